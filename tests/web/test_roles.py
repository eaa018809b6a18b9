"""Role × route: every route declares who may call it, and each role gets exactly that;
nothing of another unit's data reaches an account limited to a unit."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from sessions.access import Perm, Principal
from sessions.models import (
    Account,
    CaseFile,
    Citizen,
    Endpoint,
    ReceptionSession,
    Role,
    Unit,
)
from sessions.seed import DEMO_ACCOUNTS
from tests.support import FakeClock
from tests.web.conftest import Caller, Login, Reply
from web.auth import COOKIE
from web.http import PERM_ATTR
from web.keys import DB

ROLES = tuple(a[0] for a in DEMO_ACCOUNTS)
_PARAM = re.compile(r"\{[^}]+\}")


def app_routes(app: web.Application) -> list[tuple[str, str, Any]]:
    """(method, canonical path, declared permission) of every route but static files."""
    out = []
    missing = []
    for route in app.router.routes():
        resource = route.resource
        if route.method == "HEAD" or resource is None or resource.canonical.startswith("/static"):
            continue
        handler = route.handler
        if not hasattr(handler, PERM_ATTR):
            missing.append(f"{route.method} {resource.canonical}")
            continue
        perm = getattr(handler, PERM_ATTR)
        assert perm is None or perm == "public" or isinstance(perm, Perm), (
            f"{route.method} {resource.canonical}: {PERM_ATTR}={perm!r}"
        )
        out.append((route.method, resource.canonical, perm))
    assert not missing, f"routes without a declared permission (use @requires/@public): {missing}"
    return out


def test_every_route_declares_a_permission(client: TestClient[Any, Any]) -> None:
    routes = app_routes(client.app)
    paths = {p for _, p, _ in routes}
    # The walk reaches the API and the pages, not only part of the table.
    assert {"/api/v1/units", "/api/v1/sessions/{id}", "/", "/login", "/healthz"} <= paths


async def _ids_for(client: TestClient[Any, Any], username: str) -> dict[str, int]:
    """Ids of objects in the account's scope, by collection name."""
    async with client.app[DB]() as db:
        acc = await db.scalar(select(Account).where(Account.username == username))
        assert acc is not None
        central = await db.scalar(select(Endpoint.id).where(Endpoint.is_central.is_(True)))
        citizen = await db.scalar(select(Citizen.id).where(Citizen.full_name == "Nguyễn Văn An"))
        case = await db.scalar(select(CaseFile.id).where(CaseFile.code == "HS-MAU-001"))
        session = await db.scalar(select(ReceptionSession.id))
    assert central and citizen and case and session
    return {
        "units": acc.unit_id,
        "endpoints": acc.endpoint_id or central,
        "accounts": acc.id,
        "citizens": citizen,
        "cases": case,
        "sessions": session,
    }


def _fill(path: str, ids: dict[str, int]) -> str:
    parts = path.split("/")
    for i, part in enumerate(parts):
        if _PARAM.fullmatch(part):
            parts[i] = str(ids.get(parts[i - 1], 1))
    return "/".join(parts)


def _allowed(perm: Any, roles: frozenset[Role]) -> bool:
    if perm == "public" or perm is None:
        return True
    p = Principal(0, "", "", roles, 0, "/", None)
    return p.can(perm)


async def _call(caller: Caller, method: str, path: str) -> Reply:
    body: Any = {} if method in ("POST", "PATCH", "PUT") else None
    return await caller.call(method, path, body)


def _denied(path: str, reply: Reply) -> str | None:
    """How the answer says "no", or None when the caller got in."""
    if reply.status in (401, 403):
        return str(reply.status)
    if reply.status == 303 and reply.headers.get("Location", "").startswith("/login?next="):
        return "303 to /login"
    return None


async def test_each_role_gets_exactly_what_it_may(
    client: TestClient[Any, Any], as_user: Login, anon: Caller
) -> None:
    routes = app_routes(client.app)
    problems: list[str] = []
    for method, path, perm in routes:
        reply = await _call(anon, method, _fill(path, {}))
        if perm == "public":
            if _denied(path, reply):
                problems.append(f"anonymous {method} {path}: {reply.status}, public route")
        elif path.startswith("/api/"):
            if reply.status != 401 or reply.body["error"]["code"] != "unauthorized":
                problems.append(f"anonymous {method} {path}: {reply.status}, want 401")
        elif reply.status != 303 or not reply.headers["Location"].startswith("/login"):
            problems.append(f"anonymous {method} {path}: {reply.status}, want 303 to /login")

    for username, *_, roles, _unit, _ep in DEMO_ACCOUNTS:
        ids = await _ids_for(client, username)
        caller = await as_user(username)
        for method, path, perm in routes:
            reply = await _call(caller, method, _fill(path, ids))
            denied = _denied(path, reply)
            if _allowed(perm, frozenset(roles)):
                if denied or reply.status >= 500:
                    problems.append(f"{username} {method} {path}: {reply.status}, may call it")
            elif reply.status != 403:
                problems.append(f"{username} {method} {path}: {reply.status}, want 403")
            if COOKIE in " ".join(reply.headers.getall("Set-Cookie", [])):
                caller = await as_user(username)  # the route signed us out
    assert not problems, "\n".join(problems)


# Unit scope -------------------------------------------------------------------------------


async def _ids(client: TestClient[Any, Any]) -> dict[str, int]:
    async with client.app[DB]() as db:
        units = {u.code: u.id for u in await db.scalars(select(Unit))}
        eps = {e.unit_id: e.id for e in await db.scalars(select(Endpoint))}
        accs = {a.username: a.id for a in await db.scalars(select(Account))}
        cits = {c.full_name: c.id for c in await db.scalars(select(Citizen))}
        cases = {c.code: c.id for c in await db.scalars(select(CaseFile))}
    return (
        {f"unit:{k}": v for k, v in units.items()}
        | {f"ep:{k}": eps[v] for k, v in units.items() if v in eps}
        | {f"acc:{k}": v for k, v in accs.items()}
        | {f"cit:{k}": v for k, v in cits.items()}
        | {f"case:{k}": v for k, v in cases.items()}
    )


async def _hoa_binh_session(
    officer: Caller, ids: dict[str, int], clock: FakeClock, endpoint: str = "ep:X-HB"
) -> int:
    start = clock.now + timedelta(days=5)
    reply = await officer.post(
        "/api/v1/sessions",
        {
            "title": "Tiếp công dân phường Hòa Bình",
            "kind": "ad_hoc",
            "unit_id": ids["unit:X-HB"],
            "chair_id": ids["acc:chair"],
            "central_endpoint_id": ids["ep:BTCD"],
            "endpoint_ids": [ids[endpoint]],
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=2)).isoformat(),
        },
    )
    assert reply.status == 201, reply.body
    session_id: int = reply.body["id"]
    return session_id


def _listed(reply: Reply) -> set[int]:
    assert reply.status == 200, reply.body
    return {item["id"] for item in reply.body["items"]}


async def _assert_blind_to_hoa_binh(
    caller: Caller, ids: dict[str, int], session_id: int, kinds: tuple[str, ...]
) -> None:
    """Gets of Hòa Bình's objects answer 404 and lists (plain and searched) leave them out."""
    hb = {
        "units": ids["unit:X-HB"],
        "endpoints": ids["ep:X-HB"],
        "accounts": ids["acc:focal2"],
        "citizens": ids["cit:Trần Thị Bích"],
        "cases": ids["case:HS-MAU-002"],
        "sessions": session_id,
    }
    search = {
        "units": "hoa binh",
        "endpoints": "hoa binh",
        "accounts": "pham thi thu ha",
        "citizens": "tran thi bich",
        "cases": "o nhiem",
        "sessions": "hoa binh",
    }
    for kind in kinds:
        reply = await caller.get(f"/api/v1/{kind}/{hb[kind]}")
        assert reply.status == 404, (caller.username, kind, reply.status, reply.body)
        assert hb[kind] not in _listed(await caller.get(f"/api/v1/{kind}?per_page=200"))
        found = await caller.get(f"/api/v1/{kind}?q={search[kind]}")
        assert found.body["total"] == 0, (caller.username, kind, found.body)


async def test_focal_staff_sees_nothing_of_another_commune(
    client: TestClient[Any, Any], as_user: Login, clock: FakeClock
) -> None:
    ids = await _ids(client)
    officer = await as_user("officer")
    session_id = await _hoa_binh_session(officer, ids, clock)
    # Province-wide staff do see it: the 404s below are scope, not missing data.
    assert (await officer.get(f"/api/v1/sessions/{session_id}")).status == 200
    focal2 = await as_user("focal2")
    assert (await focal2.get(f"/api/v1/sessions/{session_id}")).status == 200
    focal1 = await as_user("focal1")
    await _assert_blind_to_hoa_binh(focal1, ids, session_id, ("units", "endpoints", "sessions"))
    for kind in ("accounts", "citizens", "cases"):
        assert (await focal1.get(f"/api/v1/{kind}")).status == 403
    units = await focal1.get("/api/v1/units")
    assert _listed(units) == {ids["unit:X-TP"]}


async def test_unit_limited_admin_and_officer_see_only_their_commune(
    client: TestClient[Any, Any], as_user: Login, clock: FakeClock
) -> None:
    ids = await _ids(client)
    admin = await as_user("admin")
    officer = await as_user("officer")
    session_id = await _hoa_binh_session(officer, ids, clock)
    for username, role in (("tp.admin", "admin"), ("tp.officer", "reception_officer")):
        reply = await admin.post(
            "/api/v1/accounts",
            {
                "username": username,
                "full_name": f"Cán bộ {role} xã Tân Phú",
                "unit_id": ids["unit:X-TP"],
                "roles": [role],
                "password": "mat-khau-du-dai",
            },
        )
        assert reply.status == 201, reply.body

    tp_admin = await as_user("tp.admin", "mat-khau-du-dai")
    await _assert_blind_to_hoa_binh(
        tp_admin, ids, session_id, ("units", "endpoints", "accounts", "sessions")
    )
    assert _listed(await tp_admin.get("/api/v1/accounts")) == {
        ids["acc:focal1"],
        tp_admin.account_id,
        *(_listed(await tp_admin.get("/api/v1/accounts?q=tp.officer"))),
    }
    # Writes that reach into Hòa Bình are refused and write nothing.
    reply = await tp_admin.patch(f"/api/v1/units/{ids['unit:X-HB']}", {"name": "Đổi tên"})
    assert reply.status == 404
    reply = await tp_admin.patch(f"/api/v1/accounts/{ids['acc:focal2']}", {"active": False})
    assert reply.status == 404
    reply = await tp_admin.post(
        "/api/v1/endpoints", {"name": "Điểm cầu lạ", "unit_id": ids["unit:X-HB"]}
    )
    assert reply.status == 403 and "unit_id" in reply.error_fields
    reply = await tp_admin.post(
        "/api/v1/accounts",
        {
            "username": "hb.spy",
            "full_name": "Gián điệp",
            "unit_id": ids["unit:X-HB"],
            "roles": ["admin"],
            "password": "mat-khau-du-dai",
        },
    )
    assert reply.status == 403 and "unit_id" in reply.error_fields
    # The audit log of a commune admin holds its commune only.
    audit = await tp_admin.get("/api/v1/audit?per_page=200")
    assert audit.status == 200
    assert all(r["unit_id"] != ids["unit:X-HB"] for r in audit.body["items"])
    assert not any(r["actor_username"] == "focal2" for r in audit.body["items"])

    tp_officer = await as_user("tp.officer", "mat-khau-du-dai")
    await _assert_blind_to_hoa_binh(
        tp_officer,
        ids,
        session_id,
        ("units", "endpoints", "accounts", "citizens", "cases", "sessions"),
    )
    # Vũ Đức Cường, of the same commune, denounces (HS-MAU-003): not listed to an officer
    # not cleared for it.
    assert _listed(await tp_officer.get("/api/v1/citizens")) == {ids["cit:Nguyễn Văn An"]}
    assert _listed(await tp_officer.get("/api/v1/cases")) == {ids["case:HS-MAU-001"]}
    # Nor can it pull Hòa Bình's citizen into a case of its own.
    reply = await tp_officer.post(
        "/api/v1/cases",
        {
            "kind": "complaint",
            "subject_area": "land",
            "title": "Khiếu nại",
            "handling_unit_id": ids["unit:X-TP"],
            "parties": [{"citizen_id": ids["cit:Trần Thị Bích"]}],
        },
    )
    assert reply.status == 422 and "parties[0].citizen_id" in reply.error_fields
