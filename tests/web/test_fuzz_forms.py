"""Property-based fuzz of every page form (POST routes outside /api taking form bodies), as
an account that may use it, with a valid CSRF token: generated fields (text of any kind,
non-ASCII digits, huge numbers, missing and unknown fields, repeated fields) and bodies that
are not UTF-8. No 5xx; a refused form writes nothing. Routes come from the route table, so a
form added later is fuzzed too. Replay: TIEPDAN_FUZZ_SEED."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import given, seed
from hypothesis import strategies as st

from tests.fuzzkit import FUZZ_SEED, TEXT, fuzz_settings
from tests.web.routekit import Callers, app_routes, fill_path, seed_ids, snapshot

FORM_FIELDS = [
    "name",
    "code",
    "level_code",
    "parent_id",
    "unit_id",
    "endpoint_id",
    "location",
    "contact_phone",
    "is_central",
    "active",
    "username",
    "full_name",
    "roles",
    "password",
    "password_again",
    "email",
    "phone",
    "title",
    "next",
    "prelogin",
]
VALUES = st.one_of(
    TEXT.map(lambda s: "".join(c for c in s if not "\ud800" <= c <= "\udfff")),
    st.sampled_from(["1", "0", "-1", "²", "٣", "9" * 5000, "on", "admin", "commune", "P"]),
)
RAW_BODIES = [b"name=%ff%fe", b"\xff\xfe=\xc3(", b"=&&=", b"roles=root&roles=" + b"x" * 3000]
URLENCODED = "application/x-www-form-urlencoded"
CONTENT_TYPES = [URLENCODED] * 6 + [
    URLENCODED + "; charset=nope",
    URLENCODED + "; charset=utf-16",
    "multipart/form-data",
    "multipart/form-data; boundary=XX",
]
# By design a failed sign-in is audited and counted even though it is refused.
AUDITED_REFUSALS = {"/login"}


@pytest.fixture
def callers(client: TestClient[Any, Any]) -> Callers:
    return Callers(client)


@seed(FUZZ_SEED)
@fuzz_settings(max_examples=5)
@given(data=st.data())
async def test_fuzz_page_forms(
    client: TestClient[Any, Any], callers: Callers, data: st.DataObject
) -> None:
    ids = await seed_ids(client)
    forms = [
        (p, perm)
        for m, p, perm in app_routes(client.app)
        if m == "POST" and not p.startswith("/api/") and p != "/logout"
    ]
    assert len(forms) >= 6, forms
    for path, perm in forms:
        who = await callers.for_perm(perm)
        fields = data.draw(
            st.lists(st.tuples(st.sampled_from(FORM_FIELDS), VALUES), max_size=10),
            label=f"POST {path}",
        )
        raw = data.draw(st.sampled_from([None, None, None, *RAW_BODIES]), label="raw body")
        csrf = urlencode({"csrf_token": who.csrf}).encode()
        body = csrf + b"&" + (raw if raw is not None else urlencode(fields).encode())
        content_type = data.draw(st.sampled_from(CONTENT_TYPES), label="Content-Type")
        before = await snapshot(client)
        reply = await who.call(
            "POST",
            fill_path(path, ids),
            data=body,
            headers={"Content-Type": content_type},
            # The form's own token is unreadable in a broken body: send the header too.
            csrf=who.csrf if content_type != URLENCODED else None,
        )
        assert reply.status < 500, f"POST {path} {body[:300]!r}: {reply.status} {reply.text[:300]}"
        if 400 <= reply.status < 500 and path not in AUDITED_REFUSALS:
            assert await snapshot(client) == before, f"POST {path} {reply.status} wrote"
