"""The route table as tests walk it: which demo account may call a route, and its path with
the parameters filled from the demo seed, so that a route added later is walked too."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from sessions.access import Perm, Principal
from sessions.models import (
    Account,
    AuditRecord,
    Base,
    CaseFile,
    Citizen,
    Endpoint,
    ReceptionSession,
    Role,
    Unit,
)
from sessions.seed import DEMO_ACCOUNTS
from tests.web.conftest import Caller, sign_in
from tests.web.test_roles import app_routes
from web.keys import DB

__all__ = ["Callers", "app_routes", "fill_path", "is_websocket", "seed_ids", "snapshot"]

_PARAM = re.compile(r"\{([^}:]+)(:[^}]*)?\}")
# Who is tried first for a route: the officer does most jobs; then the others.
PREFERENCE = ("officer", "admin", "chair", "focal1", "archivist", "auditor")
ROLES = {a[0]: frozenset(a[3]) for a in DEMO_ACCOUNTS}


def may(perm: Any, roles: frozenset[Role]) -> bool:
    if perm == "public" or perm is None:
        return True
    return Principal(0, "", "", roles, 0, "/", None).can(perm)


def username_for(perm: Perm | str | None) -> str:
    return next(u for u in PREFERENCE if may(perm, ROLES[u]))


class Callers:
    """One signed-in caller per demo account, signed in on first use."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client
        self._signed: dict[str, Caller] = {}

    async def get(self, username: str) -> Caller:
        if username not in self._signed:
            self._signed[username] = await sign_in(self.client, username)
        return self._signed[username]

    async def for_perm(self, perm: Perm | str | None) -> Caller:
        return await self.get(username_for(perm))

    def forget(self, username: str) -> None:
        """The caller was signed out (a logout route): sign in again next time."""
        self._signed.pop(username, None)


async def seed_ids(client: TestClient[Any, Any]) -> dict[str, str]:
    """A value for each path parameter, by the collection it follows ("cases" → a case id)
    or by its own name ("date", "token")."""
    async with client.app[DB]() as db:
        unit = await db.scalar(select(Unit.id).where(Unit.code == "P"))
        endpoint = await db.scalar(select(Endpoint.id).where(Endpoint.is_central.is_(True)))
        citizen = await db.scalar(select(Citizen.id).order_by(Citizen.id))
        case = await db.scalar(select(CaseFile.id).where(CaseFile.code == "HS-MAU-001"))
        session = await db.scalar(select(ReceptionSession.id).order_by(ReceptionSession.id))
        # Not a caller's own account: a fuzzed edit must not lock the fuzzer out.
        account = await db.scalar(select(Account.id).where(Account.username == "auditor"))
    return {
        "accounts": str(account),
        "units": str(unit),
        "endpoints": str(endpoint),
        "citizens": str(citizen),
        "cases": str(case),
        "sessions": str(session),
        "date": "2026-12-24",
        "token": "1-AAAA",
    }


def fill_path(path: str, ids: dict[str, str]) -> str:
    """The canonical path with each {param} replaced: by its own name when the seed has one,
    else by the id of the collection before it, else 1."""
    parts = path.split("/")
    for i, part in enumerate(parts):
        match = _PARAM.search(part)
        if match is None:
            continue
        name = match[1]
        value = ids.get(name) or ids.get(parts[i - 1]) or "1"
        parts[i] = part[: match.start()] + value + part[match.end() :]
    return "/".join(parts)


# Tables a refused request must leave as they were (sign-in bookkeeping aside).
_WATCHED = [t for t in Base.metadata.sorted_tables if not t.name.startswith("login_")]


async def snapshot(client: TestClient[Any, Any]) -> tuple[int, ...]:
    """Row counts of every table and the last audit id, in one query."""
    counts = [select(func.count()).select_from(t).scalar_subquery() for t in _WATCHED]
    last = select(func.coalesce(func.max(AuditRecord.id), 0)).scalar_subquery()
    async with client.app[DB]() as db:
        row = (await db.execute(select(*counts, last))).one()
    return tuple(int(v) for v in row)


def is_websocket(path: str) -> bool:
    return path.endswith("/bridge") or path.endswith("-bridge")
