"""No 500 on any input: headers and cookies that are not text, numbers JSON can spell but
Python cannot hold, dates past the calendar's ends, digits that are not ASCII. Each is a 4xx
naming the field, and each has one decoding point in web/ that a new route inherits."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from aiohttp.test_utils import TestClient, make_mocked_request
from sqlalchemy import select

from sessions.errors import Invalid
from sessions.models import AuditRecord, LoginSession
from tests.support import DEMO_PASSWORD, FakeClock
from tests.web.conftest import Caller, Login, count_rows, last_audit_id, sign_in
from tests.web.rawhttp import raw_request
from tests.web.routekit import Callers, app_routes, fill_path, seed_ids
from web.app import create_app
from web.auth import COOKIE, token_hash
from web.config import Config
from web.keys import DB
from web.validation import path_id

WEB = Path(__file__).parents[2] / "web"
NOT_UTF8 = b"\xff\xfe\xc3("  # no UTF-8 decoder takes these
LOGIN = b'{"username": "officer", "password": "' + DEMO_PASSWORD.encode() + b'"}'
JSON = (b"Content-Type", b"application/json")


def _cookie(caller: Caller) -> tuple[bytes, bytes]:
    return (b"Cookie", f"{COOKIE}={caller.token}".encode())


# Headers and cookies ---------------------------------------------------------------------


async def test_a_session_cookie_of_bad_bytes_is_no_sign_in(client: TestClient[Any, Any]) -> None:
    bad = [(b"Cookie", COOKIE.encode() + b"=" + NOT_UTF8)]
    health = await raw_request(client, "GET", "/healthz", bad)
    assert health.status == 200, health.body
    me = await raw_request(client, "GET", "/api/v1/auth/me", bad)
    assert me.status == 401 and me.json["error"]["code"] == "unauthorized", me.body
    home = await raw_request(client, "GET", "/", bad)
    assert home.status == 303 and home.headers["location"].startswith("/login"), home.body
    form = await raw_request(client, "GET", "/login", bad)
    assert form.status == 200, form.body
    # Valid UTF-8 that is no cookie-octet (RFC 6265) is no sign-in either.
    accented = [(b"Cookie", COOKIE.encode() + "=Trần".encode())]
    assert (await raw_request(client, "GET", "/api/v1/auth/me", accented)).status == 401


async def test_a_user_agent_of_bad_bytes_is_stored_as_none(client: TestClient[Any, Any]) -> None:
    for agent, stored in ((NOT_UTF8, ""), ("Trình duyệt Cốc Cốc".encode(), "Trình duyệt Cốc Cốc")):
        reply = await raw_request(
            client, "POST", "/api/v1/auth/login", [JSON, (b"User-Agent", agent)], LOGIN
        )
        assert reply.status == 200, reply.body
        token = reply.headers["set-cookie"].split(";")[0].partition("=")[2]
        async with client.app[DB]() as db:
            row = await db.get(LoginSession, token_hash(token))
        assert row is not None and row.user_agent == stored


@pytest.mark.parametrize(
    "token", [NOT_UTF8, "mã-chống-giả-mạo".encode(), b"\xc3\xa9" * 30], ids=["bytes", "vi", "e"]
)
async def test_a_csrf_token_that_is_not_ascii_is_the_csrf_403(
    client: TestClient[Any, Any], as_user: Login, token: bytes
) -> None:
    officer = await as_user("officer")
    before, audit_before = await count_rows(client), await last_audit_id(client)
    body = '{"full_name": "Nguyễn Văn Bình", "unit_id": 1}'.encode()
    headers = [JSON, _cookie(officer), (b"X-CSRF-Token", token)]
    reply = await raw_request(client, "POST", "/api/v1/citizens", headers, body)
    assert reply.status == 403 and "X-CSRF-Token" in reply.error_fields, reply.body
    # The form field of a page post goes through the same comparison.
    form = [(b"Content-Type", b"application/x-www-form-urlencoded"), _cookie(officer)]
    field = b"csrf_token=" + quote_from_bytes(token).encode()
    page = await raw_request(client, "POST", "/admin/units", form, field + b"&name=X")
    assert page.status == 403, page.body
    # A form whose bytes are not UTF-8 at all cannot be read: 400, before any CSRF check.
    page = await raw_request(client, "POST", "/admin/units", form, b"csrf_token=" + token)
    assert page.status == (400 if token == NOT_UTF8 else 403), page.body
    api_form = [(b"Content-Type", b"application/x-www-form-urlencoded"), _cookie(officer)]
    reply = await raw_request(client, "POST", "/api/v1/units", api_form, b"name=" + NOT_UTF8)
    assert reply.status == 400 and "body" in reply.error_fields, reply.body
    assert await count_rows(client) == before
    assert await last_audit_id(client) == audit_before


async def test_a_forwarded_address_of_bad_bytes_is_not_used(
    aiohttp_client: Any, config: Config, clock: FakeClock
) -> None:
    from tests.conftest import seed

    await seed(config.database.url, clock.now)
    client = await aiohttp_client(create_app(dataclasses.replace(config, trust_proxy=True), clock))
    headers = [JSON, (b"X-Forwarded-For", NOT_UTF8 + b", 10.0.0.1")]
    reply = await raw_request(client, "POST", "/api/v1/auth/login", headers, LOGIN)
    assert reply.status == 200, reply.body
    async with client.app[DB]() as db:
        ip = await db.scalar(select(AuditRecord.ip).order_by(AuditRecord.id.desc()).limit(1))
    assert ip == "127.0.0.1"


def test_every_header_cookie_and_form_is_read_through_web_inbound() -> None:
    """The mechanism: a handler added later that reads `request.headers`, `.cookies` or
    `.post()` itself would take undecodable bytes to the database, a hash or a 500."""
    direct = re.compile(r"\brequest\.(headers\b|cookies\b|post\()")
    offenders = [
        f"{path.relative_to(WEB.parent)}:{n}: {line.strip()}"
        for path in sorted(WEB.rglob("*.py"))
        if path.name != "inbound.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if direct.search(line)
    ]
    assert not offenders, "read headers, cookies, forms with web.inbound:\n" + "\n".join(offenders)


# JSON numbers ----------------------------------------------------------------------------

HUGE = b"9" * 4301  # one past Python's int max str digits (4,300)


@pytest.mark.parametrize(
    "number", [HUGE, b"-" + HUGE, b"1e999", b"NaN", b"-Infinity"], ids=lambda b: b[:8].decode()
)
async def test_login_refuses_numbers_python_cannot_hold(
    client: TestClient[Any, Any], number: bytes
) -> None:
    body = b'{"username": "officer", "password": ' + number + b"}"
    reply = await raw_request(client, "POST", "/api/v1/auth/login", [JSON], body)
    assert reply.status == 400 and "body" in reply.error_fields, reply.body[:300]


async def test_no_json_route_fails_on_a_huge_integer(client: TestClient[Any, Any]) -> None:
    """Every state-changing API route of the route table, by a role that may use it: those
    that read JSON answer 400 naming `body`, none answers 5xx."""
    ids, callers = await seed_ids(client), Callers(client)
    routes = [
        (m, p, perm)
        for m, p, perm in app_routes(client.app)
        if p.startswith("/api/") and m in ("POST", "PUT", "PATCH") and not p.endswith("/logout")
    ]
    assert len(routes) >= 15, routes
    refused, problems = [], []
    for method, path, perm in routes:
        who = await callers.for_perm(perm)
        body = b'{"title": ' + HUGE + b', "unit_id": ' + HUGE + b"}"
        reply = await who.call(
            method, fill_path(path, ids), data=body, headers={"Content-Type": "application/json"}
        )
        if reply.status >= 500:
            problems.append(f"{method} {path}: {reply.status} {reply.text[:200]}")
        elif reply.status == 400:
            if "body" not in reply.error_fields:
                problems.append(f"{method} {path}: 400 without naming body: {reply.text[:200]}")
            refused.append(path)
    assert not problems, "\n".join(problems)
    assert {"/api/v1/citizens", "/api/v1/calendar-days/{date}", "/api/v1/sessions"} <= set(refused)


# Dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/calendar-days?year=%C2%B2", "year"),  # "²": str.isdigit() says yes
        ("/api/v1/calendar-days?year=%D9%A2%D9%A0%D9%A2%D9%A6", "year"),  # "٢٠٢٦"
        ("/api/v1/calendar-days?year=9999", "year"),
        ("/api/v1/calendar-days?year=" + "9" * 5000, "year"),
        ("/api/v1/reports/leader-duties?month=9999-12", "month"),
        ("/api/v1/reports/leader-duties?month=0001-01", "month"),
        ("/api/v1/reports/leader-duties?month=2026-13", "month"),
        ("/api/v1/reports/leader-duties?month=%D9%A2%D9%A0%D9%A2%D9%A6-12", "month"),
        ("/api/v1/reports/leader-duties?month=2026-1", "month"),
    ],
)
async def test_query_dates_outside_the_calendar_are_422(
    client: TestClient[Any, Any], as_user: Login, path: str, field: str
) -> None:
    admin = await as_user("admin")
    reply = await admin.get(path)
    assert reply.status == 422 and field in reply.error_fields, reply.text[:300]


@pytest.mark.parametrize(
    "day",
    [
        "9999-12-01",
        "9999-12-31",
        "0001-01-01",
        "2026-W52-5",
        "20261201",
        "2026-02-30",
        "٢٠٢٦-12-01",
    ],
)
@pytest.mark.parametrize("view", ["month", "week"])
async def test_the_calendar_page_refuses_days_it_cannot_show(
    client: TestClient[Any, Any], as_user: Login, day: str, view: str
) -> None:
    officer = await as_user("officer")
    reply = await officer.get(f"/calendar?view={view}&date={day}")
    assert reply.status == 422, reply.text[:300]
    assert "<code>date</code>" in reply.text, reply.text  # the page names the field


@pytest.mark.parametrize("day", ["2999-12-31", "1900-01-01"])
@pytest.mark.parametrize("view", ["month", "week"])
async def test_the_calendar_shows_the_first_and_last_days_it_takes(
    client: TestClient[Any, Any], as_user: Login, day: str, view: str
) -> None:
    officer = await as_user("officer")
    reply = await officer.get(f"/calendar?view={view}&date={day}")
    assert reply.status == 200, reply.text[:300]


async def test_the_ends_of_the_range_do_not_overflow(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    admin = await as_user("admin")
    for path in (
        "/api/v1/reports/leader-duties?month=2999-12",
        "/api/v1/reports/leader-duties?month=1900-01",
        "/api/v1/calendar-days?year=2999",
    ):
        reply = await admin.get(path)
        assert reply.status == 200, (path, reply.text[:300])


@pytest.mark.parametrize(
    "day", ["2026-W52-5", "20261224", "9999-12-31", "2026-12-32", "٢٠٢٦-12-24"]
)
async def test_a_calendar_day_path_is_exactly_yyyy_mm_dd(
    client: TestClient[Any, Any], as_user: Login, day: str
) -> None:
    admin = await as_user("admin")
    before = await count_rows(client)
    reply = await admin.call(
        "PUT", f"/api/v1/calendar-days/{day}", {"kind": "holiday", "name": "Nghỉ"}
    )
    assert reply.status == 422 and "date" in reply.error_fields, reply.text[:300]
    assert await count_rows(client) == before


async def test_a_feed_token_with_a_huge_account_number_is_not_found(
    client: TestClient[Any, Any], anon: Caller
) -> None:
    for token in ("99999999999999999999-AAAA", "9" * 90 + "-AAAA", "0-AAAA"):
        reply = await anon.get(f"/api/v1/calendar/{token}.ics")
        assert reply.status == 404 and reply.body["error"]["code"] == "not_found", reply.text


# Ids -------------------------------------------------------------------------------------


async def test_ids_in_paths_are_ascii_digits_only(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    officer, admin = await as_user("officer"), await as_user("admin")
    assert (await officer.get("/api/v1/cases/3")).status == 200
    for who, path in (
        (officer, "/api/v1/cases/%D9%A3"),  # "٣", ARABIC-INDIC DIGIT THREE
        (officer, "/api/v1/cases/%EF%BC%93"),  # "３", FULLWIDTH DIGIT THREE
        (officer, "/cases/%D9%A3"),
        (officer, "/api/v1/sessions/%D9%A1"),
        (admin, "/admin/units/%D9%A1"),
    ):
        reply = await who.get(path)
        assert reply.status == 404, (path, reply.status, reply.text[:200])


def test_path_id_refuses_digits_that_are_not_ascii() -> None:
    for raw in ("٣", "３", "²", "9" * 5000, "0", str(2**31)):
        request = make_mocked_request("GET", "/", match_info={"id": raw})
        with pytest.raises(Invalid) as caught:
            path_id(request)
        assert "id" in caught.value.fields, raw
    assert path_id(make_mocked_request("GET", "/", match_info={"id": "42"})) == 42


def test_no_route_pattern_uses_unicode_digits(client: TestClient[Any, Any]) -> None:
    """The mechanism: in Python's re, \\d is any Unicode digit; route ids take [0-9]."""
    found = []
    for route in client.app.router.routes():
        pattern = route.resource.get_info().get("pattern") if route.resource else None
        if pattern is not None and "\\d" in pattern.pattern:
            found.append(f"{route.method} {route.resource.canonical}: {pattern.pattern}")
    assert not found, found


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/endpoints?unit_id=" + "9" * 5000, "unit_id"),
        ("/api/v1/citizens?page=" + "9" * 5000, "page"),
        ("/api/v1/citizens?per_page=%D9%A3", "per_page"),
    ],
)
async def test_query_numbers_are_ascii_and_short(
    client: TestClient[Any, Any], as_user: Login, path: str, field: str
) -> None:
    officer = await as_user("officer")
    reply = await officer.get(path)
    assert reply.status == 422 and field in reply.error_fields, reply.text[:300]


@pytest.mark.parametrize("value", ["²", "٣", "9" * 5000])
async def test_a_page_form_number_that_is_not_ascii_is_a_field_error(
    client: TestClient[Any, Any], value: str
) -> None:
    admin = await sign_in(client, "admin")
    before = await count_rows(client)
    reply = await admin.call(
        "POST",
        "/admin/units",
        data={
            "csrf_token": admin.csrf,
            "name": "Xã Mới",
            "code": "X-MOI",
            "level_code": "commune",
            "parent_id": value,
        },
        csrf=None,
    )
    assert reply.status == 422, reply.text[:300]
    assert "phải là số nguyên dương" in reply.text
    assert await count_rows(client) == before


async def test_a_field_name_that_is_a_lone_surrogate_is_named_back(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    """Found by the fuzz: the unknown field's name went raw into the error body, which
    UTF-8 cannot encode (a 500 while answering a 422)."""
    officer = await as_user("officer")
    body = b'{"full_name": "An", "unit_id": 1, "\\ud800": 1}'
    reply = await officer.call(
        "POST", "/api/v1/citizens", data=body, headers={"Content-Type": "application/json"}
    )
    assert reply.status == 422 and "\ud800" in reply.error_fields, reply.text[:300]


async def test_a_socket_message_with_a_huge_integer_gets_the_protocol_error(
    client: TestClient[Any, Any],
) -> None:
    """The live socket reads JSON with the same reader: a number Python cannot hold is a
    bad message, and the socket stays open."""
    from tests.support import login

    await login(client, "chair")
    sessions = await (await client.get("/api/v1/sessions")).json()
    ws = await client.ws_connect(f"/api/v1/sessions/{sessions['items'][0]['id']}/bridge")
    try:
        for text in (
            '{"type": "join", "id": ' + "9" * 4301 + "}",
            '{"type": "\\ud800", "id": "\\udcff"}',
            '{"type": "join", "x": NaN}',
            "[" * 100_000,
        ):
            await ws.send_str(text)
            reply = await ws.receive_json(timeout=5)
            assert reply["type"] == "error" and reply["code"] in ("bad-message", "unknown-type")
        await ws.send_json({"type": "stats"})
        assert (await ws.receive_json(timeout=5))["type"] == "error"  # not joined: still open
    finally:
        await ws.close()


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (b"multipart/form-data; boundary=XX", b"garbage"),
        (b"multipart/form-data", b"--XX\r\n"),
        (b"application/x-www-form-urlencoded; charset=nope", b"name=a"),
    ],
)
async def test_a_form_that_is_not_the_form_it_says_is_a_400(
    client: TestClient[Any, Any], as_user: Login, content_type: bytes, body: bytes
) -> None:
    admin = await as_user("admin")
    before = await count_rows(client)
    headers = [(b"Content-Type", content_type), _cookie(admin), (b"X-CSRF-Token", b"x")]
    for path in ("/admin/units", "/api/v1/units"):
        reply = await raw_request(client, "POST", path, headers[:2], body)  # CSRF from the form
        assert reply.status == 400, (path, reply.body[:300])
    reply = await raw_request(client, "POST", "/admin/units", headers, body)
    assert reply.status == 403, reply.body[:300]  # a token header: no need to read the form
    assert await count_rows(client) == before
