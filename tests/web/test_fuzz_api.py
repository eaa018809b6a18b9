"""Property-based fuzz of every JSON route of the route table, as an account that may call
it, with a valid CSRF token: generated bodies (wrong types, huge numbers, deep nesting,
unicode, missing and unknown fields, bodies that are not JSON) and query strings. No 5xx;
an input error names a field; a refused request writes nothing. The routes come from
`app.router.routes()`, so a route added later is fuzzed too. Replay: TIEPDAN_FUZZ_SEED."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import given, seed
from hypothesis import strategies as st

from tests.fuzzkit import FUZZ_SEED, JSON_VALUES, TEXT, fuzz_settings, json_objects
from tests.web.conftest import Reply
from tests.web.routekit import Callers, app_routes, fill_path, is_websocket, seed_ids, snapshot
from web.api.cases import CASE_FIELDS, CITIZEN_FIELDS
from web.api.directory import ACCOUNT_FIELDS, ENDPOINT_FIELDS, UNIT_FIELDS
from web.api.receptions import SESSION_FIELDS
from web.api.schedule import CALENDAR_FIELDS, CHECK_FIELDS

FIELDS = sorted(
    CASE_FIELDS
    | CITIZEN_FIELDS
    | ACCOUNT_FIELDS
    | ENDPOINT_FIELDS
    | UNIT_FIELDS
    | SESSION_FIELDS
    | CALENDAR_FIELDS
    | CHECK_FIELDS
    | {"username", "password", "account_id", "case_id", "active", "citizen_id", "role"}
)
QUERY_KEYS = [
    "page",
    "per_page",
    "q",
    "kind",
    "status",
    "state",
    "role",
    "unit_id",
    "unit",
    "year",
    "month",
    "date",
    "view",
    "action",
    "unread",
    "next",
]
RAW_BODIES = [
    b"",
    b"{",
    b"[" * 5000,
    b'{"title": ' + b"9" * 4301 + b"}",
    b'{"unit_id": -' + b"9" * 4301 + b"}",
    b'{"rtt_ms": 1e999, "fps": NaN}',
    b"\xff\xfe{}",
    b"null",
    b'"text"',
    b"[1, 2]",
]
# Query text a URL can carry (no lone surrogates), and raw encodings a URL library would not
# make: bytes that are no UTF-8, an encoded surrogate, digits that are not ASCII.
QUERY_TEXT = TEXT.map(lambda s: "".join(c for c in s if not "\ud800" <= c <= "\udfff"))
RAW_QUERIES = ["", "page=%ff", "q=%ED%A0%80", "year=%C2%B2", "date=%00", "month=2026-%D9%A1"]
MAX_LINE = 8190  # aiohttp's limit on the request line
INPUT_ERRORS = (400, 413, 415, 422)  # answers about the input, which must name a field
# By design a failed login is audited and counted even though it is refused.
AUDITED_REFUSALS = {"/api/v1/auth/login"}

BODIES = st.one_of(
    json_objects(FIELDS).map(lambda b: json.dumps(b).encode()),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.sampled_from(RAW_BODIES),
)
CONTENT_TYPES = st.sampled_from(["application/json"] * 8 + ["text/plain", ""])


def _problem(method: str, path: str, reply: Reply, what: str) -> str | None:
    if reply.status >= 500:
        return f"{method} {path} {what}: {reply.status} {reply.text[:300]}"
    if reply.status in INPUT_ERRORS:
        body = reply.body
        if not (isinstance(body, dict) and body.get("error", {}).get("fields")):
            return f"{method} {path} {what}: {reply.status} names no field: {reply.text[:300]}"
    return None


@pytest.fixture
def callers(client: TestClient[Any, Any]) -> Callers:
    return Callers(client)


@seed(FUZZ_SEED)
@fuzz_settings(max_examples=6)
@given(data=st.data())
async def test_fuzz_json_bodies(
    client: TestClient[Any, Any], callers: Callers, data: st.DataObject
) -> None:
    ids = await seed_ids(client)
    routes = [
        (m, p, perm)
        for m, p, perm in app_routes(client.app)
        if p.startswith("/api/") and m in ("POST", "PUT", "PATCH") and not p.endswith("/logout")
    ]
    for method, path, perm in routes:
        who = await callers.for_perm(perm)
        body = data.draw(BODIES, label=f"{method} {path}")
        content_type = data.draw(CONTENT_TYPES, label="Content-Type")
        before = await snapshot(client)
        reply = await who.call(
            method, fill_path(path, ids), data=body, headers={"Content-Type": content_type}
        )
        problem = _problem(method, path, reply, f"body {body[:200]!r}")
        assert problem is None, problem
        if 400 <= reply.status < 500 and path not in AUDITED_REFUSALS:
            assert await snapshot(client) == before, f"{method} {path} {reply.status} wrote"


@seed(FUZZ_SEED)
@fuzz_settings(max_examples=4)
@given(data=st.data())
async def test_fuzz_query_strings(
    client: TestClient[Any, Any], callers: Callers, data: st.DataObject
) -> None:
    """Every GET route, API and page, with generated query parameters."""
    ids = await seed_ids(client)
    routes = [
        (p, perm) for m, p, perm in app_routes(client.app) if m == "GET" and not is_websocket(p)
    ]
    for path, perm in routes:
        who = await callers.for_perm(perm)
        query = data.draw(
            st.dictionaries(st.sampled_from(QUERY_KEYS), QUERY_TEXT, max_size=4),
            label=f"GET {path}",
        )
        raw = data.draw(st.sampled_from(RAW_QUERIES), label="and raw")
        target = fill_path(path, ids) + "?" + "&".join(filter(None, [urlencode(query), raw]))
        before = await snapshot(client)
        reply = await who.get(target)
        if len(target.encode()) > MAX_LINE:  # refused by aiohttp's HTTP parser, not by us
            assert reply.status in (400, 414), (path, reply.status)
            continue
        if path.startswith("/api/"):
            problem = _problem("GET", path, reply, f"query {query!r}"[:600])
        else:
            problem = (
                _problem("GET", path, reply, f"query {query!r}"[:600])
                if reply.status >= 500
                else None
            )
        assert problem is None, problem
        if 400 <= reply.status < 500:
            assert await snapshot(client) == before, f"GET {path} {reply.status} wrote"
