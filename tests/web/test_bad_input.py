"""Bad input gets a clear 4xx naming the field, in the JSON error shape, and writes nothing."""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from sessions.models import Account, Citizen, Unit
from tests.web.conftest import Caller, Login, Reply, count_rows, last_audit_id, sign_in
from web.keys import CONFIG, DB


@dataclass(frozen=True)
class Bad:
    what: str
    method: str
    path: str
    body: Any = None  # JSON-encoded unless `raw` is given
    raw: bytes | None = None
    content_type: str = "application/json"
    status: int = 422
    field: str | None = None  # a key of error.fields that must be there


async def _ids(client: TestClient[Any, Any]) -> dict[str, int]:
    async with client.app[DB]() as db:
        units = {u.code: u.id for u in await db.scalars(select(Unit))}
        chair = await db.scalar(select(Account.id).where(Account.username == "chair"))
    assert chair is not None
    return units | {"chair": chair}


def _session(ids: dict[str, int], **over: Any) -> dict[str, Any]:
    body = {
        "title": "Phiên thử",
        "kind": "periodic",
        "unit_id": ids["P"],
        "chair_id": ids["chair"],
        "central_endpoint_id": 1,
        "starts_at": "2026-12-01T08:00:00+07:00",
        "ends_at": "2026-12-01T11:00:00+07:00",
    }
    return body | over


def _cases(ids: dict[str, int]) -> list[Bad]:
    citizen = {"full_name": "Nguyễn Văn Bình", "unit_id": ids["X-TP"]}
    return [
        Bad("missing fields", "POST", "/api/v1/citizens", {}, field="full_name"),
        Bad("missing unit", "POST", "/api/v1/citizens", {"full_name": "An"}, field="unit_id"),
        Bad("id as text", "POST", "/api/v1/citizens", citizen | {"unit_id": "1"}, field="unit_id"),
        Bad("id as bool", "POST", "/api/v1/citizens", citizen | {"unit_id": True}, field="unit_id"),
        Bad("id as float", "POST", "/api/v1/citizens", citizen | {"unit_id": 1.5}, field="unit_id"),
        Bad(
            "id too big", "POST", "/api/v1/citizens", citizen | {"unit_id": 2**40}, field="unit_id"
        ),
        Bad(
            "name as number",
            "POST",
            "/api/v1/citizens",
            citizen | {"full_name": 7},
            field="full_name",
        ),
        Bad(
            "blank name",
            "POST",
            "/api/v1/citizens",
            citizen | {"full_name": "  "},
            field="full_name",
        ),
        Bad(
            "name too long",
            "POST",
            "/api/v1/citizens",
            citizen | {"full_name": "A" * 201},
            field="full_name",
        ),
        Bad(
            "NUL in name",
            "POST",
            "/api/v1/citizens",
            citizen | {"full_name": "An\x00"},
            field="full_name",
        ),
        Bad(
            "lone surrogate",
            "POST",
            "/api/v1/citizens",
            raw=b'{"full_name": "An \\ud800", "unit_id": 1}',
            field="full_name",
        ),
        Bad(
            "bad ID number",
            "POST",
            "/api/v1/citizens",
            citizen | {"id_number": "12ab"},
            field="id_number",
        ),
        Bad(
            "unit not there",
            "POST",
            "/api/v1/citizens",
            citizen | {"unit_id": 99999},
            field="unit_id",
        ),
        Bad(
            "extra field",
            "POST",
            "/api/v1/citizens",
            citizen | {"is_admin": True},
            field="is_admin",
        ),
        Bad("extra on patch", "PATCH", "/api/v1/units/{P}", {"path": "/9/"}, field="path"),
        Bad(
            "unknown enum",
            "POST",
            "/api/v1/cases",
            {"kind": "robbery", "subject_area": "land", "title": "T", "handling_unit_id": ids["P"]},
            field="kind",
        ),
        Bad(
            "unknown role",
            "POST",
            "/api/v1/accounts",
            {
                "username": "moi",
                "full_name": "Mới",
                "unit_id": ids["P"],
                "roles": ["root"],
                "password": "x" * 12,
            },
            field="roles",
        ),
        Bad(
            "roles not a list",
            "POST",
            "/api/v1/accounts",
            {
                "username": "moi",
                "full_name": "Mới",
                "unit_id": ids["P"],
                "roles": "admin",
                "password": "x" * 12,
            },
            field="roles",
        ),
        Bad(
            "short password",
            "POST",
            "/api/v1/accounts",
            {
                "username": "moi",
                "full_name": "Mới",
                "unit_id": ids["P"],
                "roles": ["auditor"],
                "password": "ngan",
            },
            field="password",
        ),
        Bad(
            "bad username",
            "POST",
            "/api/v1/accounts",
            {
                "username": "Người Dùng",
                "full_name": "Mới",
                "unit_id": ids["P"],
                "roles": ["auditor"],
                "password": "x" * 12,
            },
            field="username",
        ),
        Bad(
            "duplicate username",
            "POST",
            "/api/v1/accounts",
            {
                "username": "chair",
                "full_name": "Mới",
                "unit_id": ids["P"],
                "roles": ["auditor"],
                "password": "x" * 12,
            },
            status=409,
            field="username",
        ),
        Bad(
            "duplicate unit code",
            "POST",
            "/api/v1/units",
            {"name": "Xã mới", "code": "X-TP", "level_code": "commune", "parent_id": ids["P"]},
            status=409,
            field="code",
        ),
        Bad(
            "unknown level",
            "POST",
            "/api/v1/units",
            {"name": "Xã mới", "code": "X-MOI", "level_code": "hamlet", "parent_id": ids["P"]},
            field="level_code",
        ),
        Bad(
            "second central endpoint",
            "POST",
            "/api/v1/endpoints",
            {"name": "Trung tâm 2", "unit_id": ids["P"], "is_central": True},
            status=409,
            field="is_central",
        ),
        Bad(
            "time without zone",
            "POST",
            "/api/v1/sessions",
            _session(ids, starts_at="2026-12-01T08:00:00"),
            field="starts_at",
        ),
        Bad(
            "date only",
            "POST",
            "/api/v1/sessions",
            _session(ids, ends_at="2026-12-01"),
            field="ends_at",
        ),
        Bad(
            "impossible date",
            "POST",
            "/api/v1/sessions",
            _session(ids, starts_at="2026-02-30T08:00:00+07:00"),
            field="starts_at",
        ),
        Bad(
            "year one",
            "POST",
            "/api/v1/sessions",
            _session(ids, starts_at="0001-01-01T00:00:00+07:00"),
            field="starts_at",
        ),
        Bad(
            "ends before start",
            "POST",
            "/api/v1/sessions",
            _session(ids, ends_at="2026-12-01T07:00:00+07:00"),
            field="ends_at",
        ),
        Bad(
            "unknown session kind",
            "POST",
            "/api/v1/sessions",
            _session(ids, kind="weekly"),
            field="kind",
        ),
        Bad(
            "new session live",
            "POST",
            "/api/v1/sessions",
            _session(ids, state="live"),
            field="state",
        ),
        Bad(
            "bad list item",
            "POST",
            "/api/v1/sessions",
            _session(ids, attendees=["x"]),
            field="attendees[0]",
        ),
        Bad(
            "bad nested field",
            "POST",
            "/api/v1/sessions",
            _session(ids, agenda=[{"case_id": "a", "endpoint_id": 1}]),
            field="agenda[0].case_id",
        ),
        Bad(
            "endpoint ids",
            "POST",
            "/api/v1/sessions",
            _session(ids, endpoint_ids=[1, -2]),
            field="endpoint_ids",
        ),
        Bad(
            "chair not a leader",
            "POST",
            "/api/v1/sessions",
            _session(ids, chair_id=1),
            field="chair_id",
        ),
        Bad(
            "invalid JSON",
            "POST",
            "/api/v1/citizens",
            raw=b'{"full_name": ',
            status=400,
            field="body",
        ),
        Bad(
            "not UTF-8",
            "POST",
            "/api/v1/citizens",
            raw='{"full_name": "Ân"}'.encode("latin-1"),
            status=400,
            field="body",
        ),
        Bad("JSON array", "POST", "/api/v1/citizens", [citizen], status=400, field="body"),
        Bad(
            "deep JSON",
            "POST",
            "/api/v1/citizens",
            raw=b"[" * 100_000 + b"]" * 100_000,
            status=400,
            field="body",
        ),
        Bad("empty body", "POST", "/api/v1/citizens", raw=b"", status=400, field="body"),
        Bad(
            "form post",
            "POST",
            "/api/v1/citizens",
            raw=b"full_name=An&unit_id=1",
            content_type="application/x-www-form-urlencoded",
            status=415,
            field="Content-Type",
        ),
        Bad(
            "text post",
            "PATCH",
            "/api/v1/citizens/1",
            raw=b'{"full_name": "An"}',
            content_type="text/plain",
            status=415,
            field="Content-Type",
        ),
        Bad("unknown id", "PATCH", "/api/v1/citizens/999999", {"full_name": "An"}, status=404),
        Bad("unknown case", "PATCH", "/api/v1/cases/999999", {"title": "T"}, status=404),
        Bad("unknown session", "PATCH", "/api/v1/sessions/999999", {"title": "T"}, status=404),
        Bad("id out of range", "PATCH", "/api/v1/units/99999999999", {"name": "T"}, field="id"),
        Bad("no such route", "POST", "/api/v1/nothing", {}, status=404),
        Bad("wrong method", "DELETE", "/api/v1/units/{P}", None, status=405),
    ]


async def _send(caller: Caller, bad: Bad, ids: dict[str, int]) -> Reply:
    raw = bad.raw if bad.raw is not None else json.dumps(bad.body).encode()
    return await caller.call(
        bad.method,
        bad.path.format(**ids),
        data=raw,
        headers={"Content-Type": bad.content_type},
    )


def _check(bad: Bad, reply: Reply) -> str | None:
    if reply.status != bad.status:
        return f"{bad.what}: {reply.status} (want {bad.status}) {reply.text[:300]}"
    if not isinstance(reply.body, dict) or set(reply.body) != {"error"}:
        return f"{bad.what}: not the JSON error shape: {reply.text[:300]}"
    err = reply.body["error"]
    if set(err) != {"code", "message", "fields"} or not err["message"]:
        return f"{bad.what}: error lacks code/message/fields: {err}"
    if bad.field is not None and bad.field not in err["fields"]:
        return f"{bad.what}: fields {err['fields']} do not name {bad.field!r}"
    return None


async def test_bad_bodies_are_refused_and_write_nothing(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    ids = await _ids(client)
    admin, officer = await as_user("admin"), await as_user("officer")
    before, audit_before = await count_rows(client), await last_audit_id(client)
    problems = []
    for bad in _cases(ids):
        # Each write route is tried by a role that may use it, so only the input is wrong.
        who = admin if bad.path.split("/")[3] in ("units", "endpoints", "accounts") else officer
        problem = _check(bad, await _send(who, bad, ids))
        if problem:
            problems.append(problem)
    assert not problems, "\n".join(problems)
    assert await count_rows(client) == before
    assert await last_audit_id(client) == audit_before


async def test_bad_query_strings(client: TestClient[Any, Any], as_user: Login) -> None:
    officer = await as_user("officer")
    admin = await as_user("admin")
    audit_before = await last_audit_id(client)
    for who, path, field in (
        (officer, "/api/v1/citizens?page=0", "page"),
        (officer, "/api/v1/citizens?page=abc", "page"),
        (officer, "/api/v1/citizens?page=%C2%B2", "page"),  # "²" is a digit to str.isdigit
        (officer, "/api/v1/citizens?per_page=100000", "per_page"),
        (officer, "/api/v1/citizens?q=" + "a" * 201, "q"),
        (officer, "/api/v1/citizens?q=An%00", "q"),
        (officer, "/api/v1/cases?kind=robbery", "kind"),
        (officer, "/api/v1/cases?status=lost", "status"),
        (officer, "/api/v1/sessions?state=paused", "state"),
        (officer, "/api/v1/accounts?role=root", "role"),
        (officer, "/api/v1/endpoints?unit_id=abc", "unit_id"),
        (officer, "/api/v1/endpoints?unit_id=%C2%B2", "unit_id"),
        (admin, "/api/v1/audit?action=login%00", "action"),
    ):
        reply = await who.get(path)
        assert reply.status == 422, (path, reply.status, reply.text[:300])
        assert field in reply.error_fields, (path, reply.body)
    for path in ("/api/v1/units/999999", "/api/v1/endpoints/999999", "/api/v1/citizens/999999"):
        reply = await officer.get(path)
        assert reply.status == 404 and reply.body["error"]["code"] == "not_found", reply.text
    assert await last_audit_id(client) == audit_before


async def test_oversized_body_gets_413(client: TestClient[Any, Any], as_user: Login) -> None:
    officer = await as_user("officer")
    limit = client.app[CONFIG].max_body_bytes
    before = await count_rows(client)
    body = {"full_name": "Nguyễn Văn Bình", "unit_id": 1, "address": "x" * (limit + 10)}
    reply = await officer.post("/api/v1/citizens", body)
    assert reply.status == 413, reply.text[:300]
    assert reply.body["error"]["code"] == "payload_too_large"
    assert await count_rows(client) == before
    # A form body over the limit is refused the same way, before any CSRF parsing succeeds.
    reply = await officer.call(
        "POST",
        "/api/v1/citizens",
        data=b"csrf_token=" + b"x" * (limit + 10),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        csrf=None,
    )
    assert reply.status == 413, reply.text[:300]
    assert await count_rows(client) == before


async def test_nfd_vietnamese_is_stored_as_nfc(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    officer = await as_user("officer")
    name, address = "Nguyễn Thị Ánh Tuyết", "Thôn Đồng Xoài, xã Tân Phú"
    nfd = unicodedata.normalize("NFD", name)
    assert nfd != name
    reply = await officer.post(
        "/api/v1/citizens",
        {"full_name": nfd, "address": unicodedata.normalize("NFD", address), "unit_id": 1},
    )
    assert reply.status == 201, reply.body
    assert reply.body["full_name"] == name
    async with client.app[DB]() as db:
        row = await db.get(Citizen, reply.body["id"])
    assert row is not None
    assert (row.full_name, row.address) == (name, address)
    # An NFC search finds the NFD-typed name, and the other way round.
    for q in (name, nfd, "nguyen thi anh tuyet"):
        found = await officer.get(f"/api/v1/citizens?q={q}")
        assert reply.body["id"] in {c["id"] for c in found.body["items"]}, q


async def test_html_in_names_is_escaped_on_pages(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    admin = await as_user("admin")
    evil = "<script>alert('x')</script> Nguyễn"
    reply = await admin.post(
        "/api/v1/accounts",
        {
            "username": "html.test",
            "full_name": evil,
            "unit_id": 1,
            "roles": ["archivist"],
            "password": "mat-khau-du-dai",
        },
    )
    assert reply.status == 201, reply.body
    assert reply.body["full_name"] == evil  # stored as typed; escaping is the page's job
    unit = await admin.post(
        "/api/v1/units",
        {
            "name": "<b>Xã</b> <script>x()</script>",
            "code": "X-HTML",
            "level_code": "commune",
            "parent_id": 1,
        },
    )
    assert unit.status == 201, unit.body
    assert unit.headers["Content-Type"].startswith("application/json")
    user = await sign_in(client, "html.test", "mat-khau-du-dai")
    page = await user.get("/")
    assert page.status == 200
    assert "&lt;script&gt;alert(" in page.text
    assert "<script>alert" not in page.text
