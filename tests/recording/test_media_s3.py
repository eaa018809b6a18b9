"""Replay from an S3 store (moto's standalone server): `GET /api/v1/recordings/{id}/media`
sends the browser to a presigned URL (307) that expires after TIEPDAN_PRESIGN_SECONDS, holds
no secret, and on which the store itself answers range requests.

moto (5.2) serves presigned URLs without checking their signature or their expiry (tried:
an expired URL and one with its signature changed are both served), so the store cannot
show here that it refuses them. The URL is therefore also checked as a store checks it: its
SigV4 signature recomputed with botocore from the secret, which a tampered parameter (the
expiry, the object's key, the signature) no longer matches, and its date and lifetime.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from botocore.auth import S3SigV4QueryAuth  # type: ignore[import-untyped,unused-ignore]
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped,unused-ignore]
from botocore.credentials import Credentials  # type: ignore[import-untyped,unused-ignore]

from recording.config import RecordingConfig
from sessions.models import Role
from tests.conftest import seed
from tests.recording.recs3 import MotoS3
from tests.web.archive_kit import ended_session, other_unit_account
from tests.web.conftest import sign_in
from web.app import create_app
from web.auth import COOKIE
from web.config import Config

SECRET = "s3cret-that-never-reaches-a-page-42"
SECONDS = 120


def _signature_matches(url: str, secret: str) -> bool:
    """Recompute the URL's SigV4 query signature as the store does: same canonical request,
    same date and scope, our secret."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    given = dict(query)["X-Amz-Signature"]
    rest = [(k, v) for k, v in query if k != "X-Amz-Signature"]
    unsigned = parts._replace(query=urllib.parse.urlencode(rest, quote_via=urllib.parse.quote))
    request = AWSRequest(method="GET", url=urllib.parse.urlunsplit(unsigned))
    request.headers["Host"] = parts.netloc
    date = dict(query)["X-Amz-Date"]
    request.context["timestamp"] = date
    key_id, _day, region, service, _ = dict(query)["X-Amz-Credential"].split("/")
    auth = S3SigV4QueryAuth(Credentials(key_id, secret), service, region, expires=SECONDS)
    canonical = auth.canonical_request(request)
    string_to_sign = auth.string_to_sign(request, canonical)
    return bool(auth.signature(string_to_sign, request) == given)


def _tamper(url: str, name: str, value: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = [
        (k, value if k == name else v)
        for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urllib.parse.urlunsplit(
        parts._replace(query=urllib.parse.urlencode(query, quote_via=urllib.parse.quote))
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_media_from_s3_is_a_short_lived_presigned_url(
    aiohttp_client: Any, config: Config, s3_config: RecordingConfig, s3: MotoS3
) -> None:
    await seed(config.database.url)
    app_config = replace(
        config,
        recording=replace(s3_config, s3_secret_key=SECRET),
        presign_seconds=SECONDS,
    )
    client: TestClient[Any, Any] = await aiohttp_client(create_app(app_config))
    rec = await ended_session(client, sizes=(200_000,))
    rid, data = rec.recording_ids[0], rec.data[0]
    archivist = await sign_in(client, "archivist")
    before = datetime.now(UTC).replace(microsecond=0)
    client.session.cookie_jar.clear()
    async with client.get(
        f"/api/v1/recordings/{rid}/media?t=30",
        headers={"Cookie": f"{COOKIE}={archivist.token}"},
        allow_redirects=False,
    ) as resp:
        assert resp.status == 307
        url = resp.headers["Location"]
        assert resp.headers["Cache-Control"] == "private, no-store"
        page_text = await resp.text()
    assert url.startswith(f"{s3.endpoint}/"), url
    assert SECRET not in url and SECRET not in page_text
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert int(query["X-Amz-Expires"]) == SECONDS
    signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert before - timedelta(seconds=5) <= signed_at <= datetime.now(UTC)
    assert query["response-content-disposition"].startswith("inline;")

    # The store answers the player's ranges itself, with exactly those bytes.
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers={"Range": "bytes=1000-1999"}) as got:
            assert got.status == 206
            assert await got.read() == data[1000:2000]
        async with http.get(url) as got:
            assert got.status == 200 and await got.read() == data

    # What a store checks: the signature is ours, and no tampered parameter keeps it.
    assert _signature_matches(url, SECRET)
    assert not _signature_matches(url, "another-secret")
    for name, value in (
        ("X-Amz-Expires", "604800"),
        ("X-Amz-Date", (signed_at + timedelta(hours=1)).strftime("%Y%m%dT%H%M%SZ")),
        ("X-Amz-Signature", "0" * 64),
    ):
        assert not _signature_matches(_tamper(url, name, value), SECRET), name
    other_key = url.replace("track-0.webm", "track-1.webm")
    assert not _signature_matches(other_key, SECRET)

    # Another unit's archivist is not sent anywhere.
    await other_unit_account(client, "archivist_tp", Role.ARCHIVIST)
    outsider = await sign_in(client, "archivist_tp")
    reply = await outsider.call("GET", f"/api/v1/recordings/{rid}/media")
    assert reply.status == 404 and "Location" not in reply.headers
