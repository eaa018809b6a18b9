"""Signing in and out, throttling, CSRF, ending sessions, and the audit trail of it all."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from sessions.models import AuditRecord, LoginSession
from tests.support import DEMO_PASSWORD, FakeClock
from tests.web.conftest import Caller, Login, count_rows, last_audit_id, request, sign_in
from tests.web.test_roles import app_routes
from web.app import create_app
from web.auth import COOKIE
from web.config import Config
from web.keys import DB

MAX_FAILURES = 3


@pytest.fixture
def config(config: Config) -> Config:
    # Not the default (5): shows the setting is what counts.
    return replace(config, login_max_failures=MAX_FAILURES, login_lock_minutes=10)


async def _login(client: TestClient[Any, Any], username: str, password: str) -> Any:
    return await request(
        client, "POST", "/api/v1/auth/login", json={"username": username, "password": password}
    )


async def _audit(client: TestClient[Any, Any], after: int = 0) -> list[AuditRecord]:
    async with client.app[DB]() as db:
        rows = await db.scalars(
            select(AuditRecord).where(AuditRecord.id > after).order_by(AuditRecord.id)
        )
        return list(rows)


async def _sessions_of(client: TestClient[Any, Any], account_id: int) -> int:
    async with client.app[DB]() as db:
        n = await db.scalar(
            select(func.count())
            .select_from(LoginSession)
            .where(LoginSession.account_id == account_id)
        )
    return int(n or 0)


async def test_login_ok_and_failed(client: TestClient[Any, Any]) -> None:
    reply = await _login(client, "officer", DEMO_PASSWORD)
    assert reply.status == 200, reply.body
    assert reply.body["account"]["username"] == "officer"
    assert reply.body["account"]["roles"] == ["reception_officer"]
    assert "password_hash" not in reply.body["account"]
    assert reply.body["csrf_token"]
    cookie = next(c for c in reply.headers.getall("Set-Cookie") if c.startswith(COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # served over http in the test

    caller = await sign_in(client, "  OFFICER ")  # names are trimmed and case-folded
    me = await caller.get("/api/v1/auth/me")
    assert me.status == 200 and me.body["account"]["username"] == "officer"
    assert me.body["csrf_token"] == caller.csrf

    before = await last_audit_id(client)
    wrong = await _login(client, "officer", "not-the-password")
    nobody = await _login(client, "no.such.user", "whatever-password")
    for reply in (wrong, nobody):
        assert reply.status == 401, reply.body
        assert reply.body["error"]["code"] == "unauthorized"
    # The same answer whether or not the account exists.
    assert wrong.body == nobody.body
    assert COOKIE not in " ".join(wrong.headers.getall("Set-Cookie", []))
    failed = await _audit(client, before)
    assert [(r.action, r.actor_username, r.detail["reason"]) for r in failed] == [
        ("login.failed", "officer", "bad_credentials"),
        ("login.failed", "no.such.user", "bad_credentials"),
    ]
    logins = [r for r in await _audit(client) if r.action == "login"]
    assert [r.actor_username for r in logins] == ["officer", "officer"]
    assert all(r.actor_id == caller.account_id and r.ip for r in logins)


async def test_login_throttled_after_failures_and_across_restarts(
    client: TestClient[Any, Any], aiohttp_client: Any, config: Config, clock: FakeClock
) -> None:
    for i in range(MAX_FAILURES - 1):
        reply = await _login(client, "chair", f"wrong-{i}")
        assert reply.status == 401, (i, reply.body)
    reply = await _login(client, "chair", "wrong-last")
    assert reply.status == 429, reply.body
    assert reply.body["error"]["code"] == "too_many_requests"
    # Locked: even the right password is refused, and nothing is signed in.
    reply = await _login(client, "chair", DEMO_PASSWORD)
    assert reply.status == 429
    assert COOKIE not in " ".join(reply.headers.getall("Set-Cookie", []))
    assert "login.throttled" in [r.action for r in await _audit(client)]

    # A new process on the same database still throttles.
    other = await aiohttp_client(create_app(config, clock))
    reply = await _login(other, "chair", DEMO_PASSWORD)
    assert reply.status == 429, reply.body

    clock.advance(minutes=config.login_lock_minutes + 1)
    reply = await _login(other, "chair", DEMO_PASSWORD)
    assert reply.status == 200, reply.body
    # A success clears the count: the next failure is the first again, not a lock.
    reply = await _login(other, "chair", "wrong-again")
    assert reply.status == 401


async def test_one_address_locks_only_after_many_accounts_fail(
    client: TestClient[Any, Any],
) -> None:
    from web.auth import IP_FACTOR

    # One person's typos lock their own account, not the colleagues behind the same NAT.
    for i in range(MAX_FAILURES):
        await _login(client, "focal1", f"wrong-{i}")
    assert (await _login(client, "focal1", DEMO_PASSWORD)).status == 429
    assert (await _login(client, "focal2", DEMO_PASSWORD)).status == 200
    # Guessing across many accounts from one address locks the address, and a valid login
    # in between does not wipe that count. (Made-up names count apart: test_login_throttle.)
    names = ["admin", "chair", "officer", "archivist", "auditor", "focal2"]
    for i in range(MAX_FAILURES * IP_FACTOR - MAX_FAILURES - 1):
        reply = await _login(client, names[i % len(names)], f"guess-{i}")
        assert reply.status in (401, 429), reply.body
    assert (await _login(client, "auditor", "guess-last")).status == 429
    assert (await _login(client, "focal2", DEMO_PASSWORD)).status == 429


async def test_failures_spread_out_in_time_do_not_lock(
    client: TestClient[Any, Any], config: Config, clock: FakeClock
) -> None:
    for i in range(MAX_FAILURES * 2):
        reply = await _login(client, "chair", f"wrong-{i}")
        assert reply.status == 401, (i, reply.body)
        clock.advance(minutes=config.login_lock_minutes / (MAX_FAILURES - 1) + 1)
    assert (await _login(client, "chair", DEMO_PASSWORD)).status == 200


def _unsafe_routes(client: TestClient[Any, Any]) -> list[tuple[str, str]]:
    exempt = {"/api/v1/auth/login", "/login"}
    return [
        (m, p)
        for m, p, _ in app_routes(client.app)
        if m in ("POST", "PUT", "PATCH", "DELETE") and p not in exempt
    ]


async def test_csrf_required_on_every_state_changing_call(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    admin = await as_user("admin")
    officer = await as_user("officer")
    routes = _unsafe_routes(client)
    assert ("PATCH", "/api/v1/units/{id}") in routes and ("POST", "/logout") in routes
    before, audit_before = await count_rows(client), await last_audit_id(client)
    # Bodies that would be accepted: only the token is wrong.
    body = {"name": "Đổi tên bằng giả mạo"}
    for method, path in routes:
        url = path.replace("{id}", "1")
        for token in (None, "", "wrong-token", officer.csrf):
            reply = await admin.call(method, url, body, csrf=token)
            assert reply.status == 403, (method, path, token, reply.status, reply.text[:200])
            if path.startswith("/api/"):
                assert "X-CSRF-Token" in reply.error_fields
    # A cross-site form post carries the token as a field: a wrong one fails the same way.
    reply = await admin.call(
        "PATCH",
        "/api/v1/units/1",
        data={"csrf_token": "wrong-token", "name": "x"},
        csrf=None,
    )
    assert reply.status == 403
    assert await count_rows(client) == before
    assert await last_audit_id(client) == audit_before
    assert (await admin.get("/api/v1/auth/me")).status == 200  # still signed in
    # With the token the same call goes through.
    assert (await admin.patch("/api/v1/units/1", body)).status == 200


async def test_logout_revokes_the_cookie_server_side(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    caller = await as_user("archivist")
    other = await as_user("archivist")  # a second browser of the same account
    assert await _sessions_of(client, caller.account_id) == 2
    reply = await caller.post("/api/v1/auth/logout")
    assert reply.status == 200, reply.body
    assert COOKIE in " ".join(reply.headers.getall("Set-Cookie"))
    # The old cookie, replayed, is worth nothing: the server forgot it.
    replay = await caller.get("/api/v1/auth/me")
    assert replay.status == 401
    assert (await caller.patch(f"/api/v1/accounts/{caller.account_id}", {})).status == 401
    assert (await other.get("/api/v1/auth/me")).status == 200
    assert await _sessions_of(client, caller.account_id) == 1
    assert "logout" in [r.action for r in await _audit(client)]

    # The page's sign-out form does the same.
    reply = await other.call("POST", "/logout", data={"csrf_token": other.csrf}, csrf=None)
    assert reply.status == 303 and reply.headers["Location"] == "/login"
    assert (await other.get("/api/v1/auth/me")).status == 401
    assert (await other.get("/")).status == 303


async def test_session_expires(
    client: TestClient[Any, Any], as_user: Login, config: Config, clock: FakeClock
) -> None:
    caller = await as_user("auditor")
    clock.advance(hours=config.session_hours - 0.1)
    assert (await caller.get("/api/v1/auth/me")).status == 200
    clock.advance(hours=0.2)
    assert (await caller.get("/api/v1/auth/me")).status == 401


async def test_password_change_ends_sessions(client: TestClient[Any, Any], as_user: Login) -> None:
    admin = await as_user("admin")
    first, second = await as_user("officer"), await as_user("officer")
    before = await last_audit_id(client)
    reply = await admin.patch(
        f"/api/v1/accounts/{first.account_id}", {"password": "mat-khau-moi-dai"}
    )
    assert reply.status == 200, reply.body
    for old in (first, second):
        assert (await old.get("/api/v1/auth/me")).status == 401
    assert await _sessions_of(client, first.account_id) == 0
    assert (await admin.get("/api/v1/auth/me")).status == 200
    assert (await _login(client, "officer", DEMO_PASSWORD)).status == 401
    assert (await _login(client, "officer", "mat-khau-moi-dai")).status == 200
    records = await _audit(client, before)
    changed = [r for r in records if r.action == "account.password"]
    assert len(changed) == 1 and changed[0].object_id == str(first.account_id)
    assert all("mat-khau" not in str(r.detail) for r in records)


async def test_inactive_account_cannot_sign_in(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    admin = await as_user("admin")
    focal = await as_user("focal1")
    reply = await admin.patch(f"/api/v1/accounts/{focal.account_id}", {"active": False})
    assert reply.status == 200 and reply.body["active"] is False
    assert (await focal.get("/api/v1/auth/me")).status == 401
    before = await last_audit_id(client)
    reply = await _login(client, "focal1", DEMO_PASSWORD)
    assert reply.status == 401, reply.body
    [failed] = await _audit(client, before)
    assert failed.action == "login.failed" and failed.detail["reason"] == "inactive"
    # An admin cannot lock itself out.
    reply = await admin.patch(f"/api/v1/accounts/{admin.account_id}", {"active": False})
    assert reply.status == 422 and "active" in reply.error_fields
    reply = await admin.patch(f"/api/v1/accounts/{focal.account_id}", {"active": True})
    assert reply.status == 200
    assert (await _login(client, "focal1", DEMO_PASSWORD)).status == 200


async def test_role_change_is_audited(client: TestClient[Any, Any], as_user: Login) -> None:
    admin = await as_user("admin")
    archivist = await as_user("archivist")
    assert (await archivist.get("/api/v1/audit")).status == 403
    before = await last_audit_id(client)
    reply = await admin.patch(
        f"/api/v1/accounts/{archivist.account_id}", {"roles": ["archivist", "auditor"]}
    )
    assert reply.status == 200, reply.body
    assert reply.body["roles"] == ["archivist", "auditor"]
    records = await _audit(client, before)
    [change] = [r for r in records if r.action == "account.roles"]
    assert change.detail == {"before": ["archivist"], "after": ["archivist", "auditor"]}
    assert change.actor_username == "admin"
    assert change.object_id == str(archivist.account_id)
    # The new role takes effect on the session already open.
    assert (await archivist.get("/api/v1/audit")).status == 200
    # The auditor reads the change through the API too.
    log = await archivist.get("/api/v1/audit?action=account.roles")
    assert [r["object_id"] for r in log.body["items"]] == [str(archivist.account_id)]
    # Saving the same roles again is not a role change.
    before = await last_audit_id(client)
    await admin.patch(
        f"/api/v1/accounts/{archivist.account_id}", {"roles": ["auditor", "archivist"]}
    )
    assert "account.roles" not in [r.action for r in await _audit(client, before)]


async def test_anonymous_cannot_write(client: TestClient[Any, Any], anon: Caller) -> None:
    before = await count_rows(client)
    reply = await anon.post("/api/v1/citizens", {"full_name": "An", "unit_id": 1})
    assert reply.status == 401
    assert await count_rows(client) == before
