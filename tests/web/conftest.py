"""Helpers for the API tests: several signed-in callers on one app, row counts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher
from sqlalchemy import func, select

from sessions import accounts
from sessions.models import AuditRecord, Base
from tests.support import DEMO_PASSWORD
from web.auth import COOKIE
from web.keys import DB


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2, at the lowest cost: these tests sign in a few hundred times."""
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=64))


@dataclass
class Reply:
    status: int
    body: Any
    text: str
    headers: Any

    @property
    def error_fields(self) -> dict[str, str]:
        assert isinstance(self.body, dict) and "error" in self.body, self.text
        fields: dict[str, str] = self.body["error"]["fields"]
        return fields


OWN_TOKEN = "(the caller's own CSRF token)"


@dataclass
class Caller:
    """One signed-in account. The client's cookie jar is kept empty: each request carries
    this caller's cookie, so callers never mix."""

    client: TestClient[Any, Any]
    username: str
    token: str
    csrf: str
    account_id: int

    async def call(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        csrf: str | None = OWN_TOKEN,
        headers: dict[str, str] | None = None,
        data: Any = None,
        allow_redirects: bool = False,
    ) -> Reply:
        hdrs = dict(headers or {})
        if self.token:
            hdrs["Cookie"] = f"{COOKIE}={self.token}"
        if csrf == OWN_TOKEN:
            csrf = self.csrf
        if csrf is not None and method.upper() not in ("GET", "HEAD"):
            hdrs["X-CSRF-Token"] = csrf
        return await request(
            self.client,
            method,
            path,
            json=json,
            headers=hdrs,
            data=data,
            allow_redirects=allow_redirects,
        )

    async def get(self, path: str) -> Reply:
        return await self.call("GET", path)

    async def post(self, path: str, json: Any = None) -> Reply:
        return await self.call("POST", path, json)

    async def patch(self, path: str, json: Any = None) -> Reply:
        return await self.call("PATCH", path, json)


async def request(
    client: TestClient[Any, Any],
    method: str,
    path: str,
    *,
    json: Any = None,
    headers: dict[str, str] | None = None,
    data: Any = None,
    allow_redirects: bool = False,
) -> Reply:
    client.session.cookie_jar.clear()
    kwargs: dict[str, Any] = {"headers": headers or {}, "allow_redirects": allow_redirects}
    if json is not None:
        kwargs["json"] = json
    elif data is not None:
        kwargs["data"] = data
    async with client.request(method, path, **kwargs) as resp:
        text = await resp.text()
        body: Any = None
        if resp.content_type == "application/json":
            body = await resp.json()
        reply = Reply(resp.status, body, text, resp.headers)
    client.session.cookie_jar.clear()
    return reply


Login = Callable[..., Awaitable[Caller]]


async def sign_in(
    client: TestClient[Any, Any], username: str, password: str = DEMO_PASSWORD
) -> Caller:
    client.session.cookie_jar.clear()
    resp = await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    body = await resp.json()
    assert resp.status == 200, body
    cookie = resp.cookies.get(COOKIE)
    assert cookie is not None and cookie.value
    client.session.cookie_jar.clear()
    return Caller(client, username, cookie.value, body["csrf_token"], body["account"]["id"])


@pytest.fixture
def as_user(client: TestClient[Any, Any]) -> Login:
    async def make(username: str, password: str = DEMO_PASSWORD) -> Caller:
        return await sign_in(client, username, password)

    return make


@pytest.fixture
def anon(client: TestClient[Any, Any]) -> Caller:
    return Caller(client, "", "", "", 0)


async def count_rows(client: TestClient[Any, Any]) -> dict[str, int]:
    """Rows in every table of the app's database, to show that nothing was written."""
    out: dict[str, int] = {}
    async with client.app[DB]() as db:
        for table in Base.metadata.sorted_tables:
            if table.name in ("login_sessions",):
                continue  # touched by signing in, not by the calls under test
            out[table.name] = int(await db.scalar(select(func.count()).select_from(table)) or 0)
    return out


async def audit_actions(client: TestClient[Any, Any], after_id: int = 0) -> list[str]:
    async with client.app[DB]() as db:
        rows = await db.scalars(
            select(AuditRecord.action).where(AuditRecord.id > after_id).order_by(AuditRecord.id)
        )
        return list(rows)


async def last_audit_id(client: TestClient[Any, Any]) -> int:
    async with client.app[DB]() as db:
        return int(await db.scalar(select(func.max(AuditRecord.id))) or 0)
