"""`GET /api/v1/recordings/{id}/media` on a local store: range requests answered with exactly
the bytes asked for, 416 outside the file, 400 for several or malformed ranges, If-Range,
the unit scope (another unit's archivist gets 404), the restriction of a denunciation's
recording, and the audit of every replay start and download."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from sessions.models import AuditRecord, Role
from tests.web.archive_kit import ended_session, other_unit_account
from tests.web.conftest import Caller, Login, Reply
from web.keys import DB


async def _media(
    who: Caller, rid: int, headers: dict[str, str] | None = None, q: str = ""
) -> Reply:
    return await who.call("GET", f"/api/v1/recordings/{rid}/media{q}", headers=headers)


async def _bytes(
    client: TestClient[Any, Any], who: Caller, rid: int, headers: dict[str, str], q: str = ""
) -> tuple[int, bytes, Any]:
    """The raw body (Reply decodes text)."""
    from web.auth import COOKIE

    client.session.cookie_jar.clear()
    async with client.get(
        f"/api/v1/recordings/{rid}/media{q}", headers={"Cookie": f"{COOKIE}={who.token}", **headers}
    ) as resp:
        return resp.status, await resp.read(), resp.headers


async def _actions(client: TestClient[Any, Any], rid: int) -> list[tuple[str, Any]]:
    async with client.app[DB]() as db:
        rows = await db.scalars(
            select(AuditRecord)
            .where(AuditRecord.object_type == "recording", AuditRecord.object_id == str(rid))
            .order_by(AuditRecord.id)
        )
        return [(r.action, r.detail) for r in rows]


async def test_a_slice_is_exactly_those_bytes(client: TestClient[Any, Any], as_user: Login) -> None:
    rec = await ended_session(client)
    rid, data = rec.recording_ids[0], rec.data[0]
    size = len(data)
    archivist = await as_user("archivist")
    cases = {
        "bytes=100-199": (100, 199),
        "bytes=0-0": (0, 0),
        f"bytes={size - 10}-": (size - 10, size - 1),
        "bytes=-500": (size - 500, size - 1),
        f"bytes=1000-{size + 5000}": (1000, size - 1),  # an end past the file: cut
        f"bytes=-{size * 2}": (0, size - 1),  # a suffix longer than the file: all of it
        "Bytes = 5-9": (5, 9),
    }
    for header, (a, b) in cases.items():
        status, body, headers = await _bytes(client, archivist, rid, {"Range": header})
        assert status == 206, (header, status, body[:200])
        assert body == data[a : b + 1], header
        assert headers["Content-Range"] == f"bytes {a}-{b}/{size}", header
        assert int(headers["Content-Length"]) == b - a + 1
        assert headers["Accept-Ranges"] == "bytes"
        assert headers["ETag"] == f'"{rec_sha(data)}"'
    status, body, headers = await _bytes(client, archivist, rid, {})
    assert status == 200 and body == data and headers["Accept-Ranges"] == "bytes"
    assert headers["Content-Type"] == "video/webm"
    assert headers["Content-Disposition"].startswith("inline;")


def rec_sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


async def test_out_of_bounds_is_416_and_bad_ranges_are_400(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    rec = await ended_session(client)
    rid, size = rec.recording_ids[0], len(rec.data[0])
    archivist = await as_user("archivist")
    for header in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
        reply = await _media(archivist, rid, {"Range": header})
        assert reply.status == 416, (header, reply.status)
        assert reply.headers["Content-Range"] == f"bytes */{size}"
        assert "Range" in reply.error_fields
    for header in ("bytes=0-1,5-9", "bytes=0-1, 10-"):
        reply = await _media(archivist, rid, {"Range": header})
        assert reply.status == 400, header
        assert reply.error_fields["Range"] == "chỉ được một khoảng"
    for header in ("bytes=abc", "bytes", "bytes=5-2", "bytes=-", "bytes=1-2-3", "bytes=٣-4"):
        reply = await _media(archivist, rid, {"Range": header})
        assert reply.status == 400, (header, reply.status, reply.text)
        assert "Range" in reply.error_fields, header
    # Bad input is answered, not recorded as a replay.
    assert await _actions(client, rid) == []
    # A unit other than bytes is ignored (RFC 9110): the whole file.
    status, body, _ = await _bytes(client, archivist, rid, {"Range": "items=0-5"})
    assert status == 200 and body == rec.data[0]


async def test_if_range(client: TestClient[Any, Any], as_user: Login) -> None:
    rec = await ended_session(client)
    rid, data = rec.recording_ids[0], rec.data[0]
    archivist = await as_user("archivist")
    etag = f'"{rec_sha(data)}"'
    status, body, _ = await _bytes(
        client, archivist, rid, {"Range": "bytes=10-19", "If-Range": etag}
    )
    assert status == 206 and body == data[10:20]
    for other in ('"0000"', "Wed, 21 Oct 2015 07:28:00 GMT"):
        status, body, _ = await _bytes(
            client, archivist, rid, {"Range": "bytes=10-19", "If-Range": other}
        )
        assert status == 200 and body == data, other


async def test_unknown_recording_and_bad_position(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    rec = await ended_session(client)
    archivist = await as_user("archivist")
    assert (await _media(archivist, 999_999)).status == 404
    for bad in ("-1", "abc", "1e3", "99999999", "1.2.3", "nan"):
        reply = await _media(archivist, rec.recording_ids[0], q=f"?t={bad}")
        assert reply.status == 422, bad
        assert "t" in reply.error_fields


async def test_another_units_archivist_finds_nothing(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    rec = await ended_session(client)
    await other_unit_account(client, "archivist_tp", Role.ARCHIVIST)
    outsider = await as_user("archivist_tp")
    rid = rec.recording_ids[0]
    for path in (
        f"/api/v1/recordings/{rid}/media",
        f"/api/v1/recordings/{rid}/media?download=1",
        f"/api/v1/recordings/{rid}/download",
        f"/api/v1/sessions/{rec.session_id}/timeline",
        f"/sessions/{rec.session_id}/archive",
    ):
        reply = await outsider.get(path)
        assert reply.status == 404, (path, reply.status)
    listed = await outsider.get(f"/api/v1/recordings?session_id={rec.session_id}")
    assert listed.status == 200 and listed.body["items"] == []
    found = await outsider.get("/api/v1/archive/sessions")
    assert found.status == 200 and found.body["total"] == 0
    # Nothing was served, so nothing is audited as a replay.
    assert not [a for a, _ in await _actions(client, rid) if a.startswith("recording.")]


async def test_a_denunciations_recording_is_restricted(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    rec = await ended_session(client, codes=("HS-MAU-001", "HS-MAU-003"))
    rid = rec.recording_ids[0]
    archivist = await as_user("archivist")  # not cleared for HS-MAU-003
    for q in ("", "?download=1", "?t=70"):
        reply = await _media(archivist, rid, {"Range": "bytes=0-9"}, q)
        assert reply.status == 403, (q, reply.status)
        assert "recording" in reply.error_fields
    denied = [a for a, _ in await _actions(client, rid)]
    assert denied == [
        "recording.replay.denied",
        "recording.download.denied",
        "recording.replay.denied",
    ]
    officer = await as_user("officer")  # cleared for it (the seed)
    status, body, _ = await _bytes(client, officer, rid, {"Range": "bytes=0-9"})
    assert status == 206 and body == rec.data[0][:10]
    # The time line withholds the denunciation's chapter and the tracks from the archivist.
    tl = (await archivist.get(f"/api/v1/sessions/{rec.session_id}/timeline")).body
    assert tl["may_replay"] is False
    assert all(t["media_url"] is None and t["restricted"] for t in tl["tracks"])
    by_case = {c["case_code"]: c for c in tl["chapters"]}
    assert by_case["HS-MAU-003"]["restricted"] is True and by_case["HS-MAU-003"]["title"] is None
    assert by_case["HS-MAU-001"]["restricted"] is False and by_case["HS-MAU-001"]["title"]
    listed = (await archivist.get(f"/api/v1/recordings?session_id={rec.session_id}")).body
    assert listed["total"] == 2 and not any(i["may_replay"] for i in listed["items"])


async def test_replay_starts_and_downloads_are_audited(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    rec = await ended_session(client)
    rid = rec.recording_ids[0]
    archivist = await as_user("archivist")
    assert (await _bytes(client, archivist, rid, {"Range": "bytes=0-"}, "?t=12.5"))[0] == 206
    seek = await _bytes(client, archivist, rid, {"Range": "bytes=5000-5999"})
    assert seek[0] == 206 and seek[1] == rec.data[0][5000:6000]
    status, body, headers = await _bytes(client, archivist, rid, {}, "?download=1")
    assert status == 200 and body == rec.data[0]
    assert headers["Content-Disposition"].startswith("attachment;")
    rows = await _actions(client, rid)
    assert [a for a, _ in rows] == ["recording.replay", "recording.download"]
    assert rows[0][1]["t"] == 12.5 and rows[0][1]["session_id"] == rec.session_id
    async with client.app[DB]() as db:
        who = await db.scalar(
            select(AuditRecord.actor_username).where(AuditRecord.action == "recording.replay")
        )
    assert who == "archivist"
    # The auditor lists them, in Vietnamese, and filters by action.
    auditor = await as_user("auditor")
    page = await auditor.get("/audit?action=recording.replay")
    assert page.status == 200
    assert "Xem lại bản ghi" in page.text and "Vị trí bắt đầu phát (giây)" in page.text
    assert "Tải bản ghi" in (await auditor.get("/audit?action=recording.download")).text
    api = await auditor.get("/api/v1/audit?action=recording.download")
    assert api.status == 200 and api.body["total"] == 1


@pytest.mark.parametrize("method", ["HEAD"])
async def test_head_gives_the_headers_only(
    client: TestClient[Any, Any], as_user: Login, method: str
) -> None:
    rec = await ended_session(client)
    archivist = await as_user("archivist")
    reply = await archivist.call(method, f"/api/v1/recordings/{rec.recording_ids[0]}/media")
    assert reply.status == 200 and reply.text == ""
    assert int(reply.headers["Content-Length"]) == len(rec.data[0])
