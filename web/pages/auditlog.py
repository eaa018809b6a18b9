"""The audit log, for auditors and administrators: /audit. Each record in words: the action's
Vietnamese label, who did it by name, what it was done to by name, the detail as lines."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import audit
from sessions.access import Perm
from sessions.models import Account, AuditRecord, CaseFile, Endpoint, ReceptionSession, Unit
from web.http import principal, requires
from web.keys import DB
from web.pages.forms import pager, render
from web.pages.labels import AUDIT_ACTIONS, OBJECT_TYPES, audit_action, audit_detail
from web.validation import page_request

# What names an object of each type. A citizen is never named here: an identity is shown
# only through sessions/identity.py, and the audit log is no surface of it.
_NAMED: dict[str, tuple[Any, Any]] = {
    "account": (Account.id, Account.full_name),
    "unit": (Unit.id, Unit.name),
    "endpoint": (Endpoint.id, Endpoint.name),
    "session": (ReceptionSession.id, ReceptionSession.title),
    "case": (CaseFile.id, CaseFile.code),
}


@dataclass(frozen=True, slots=True)
class Line:
    record: AuditRecord
    action: str
    actor: str
    target: str
    detail: list[tuple[str, str]]


def _ids(values: Iterable[str]) -> set[int]:
    return {int(v) for v in values if v.isascii() and v.isdigit() and len(v) < 19}


async def _names(db: AsyncSession, items: list[AuditRecord]) -> dict[tuple[str, int], str]:
    names: dict[tuple[str, int], str] = {}
    for kind, (id_col, name_col) in _NAMED.items():
        ids = _ids(r.object_id for r in items if r.object_type == kind)
        if kind == "account":
            ids |= {r.actor_id for r in items if r.actor_id is not None}
        if ids:
            rows = await db.execute(select(id_col, name_col).where(id_col.in_(ids)))
            names |= {(kind, i): n for i, n in rows}
    return names


def _actor(r: AuditRecord, names: dict[tuple[str, int], str]) -> str:
    if r.actor_id is not None and ("account", r.actor_id) in names:
        return f"{names['account', r.actor_id]} ({r.actor_username})"
    if r.actor_username == "system":
        return "Hệ thống"
    return r.actor_username or "—"


def _target(r: AuditRecord, names: dict[tuple[str, int], str]) -> str:
    kind = OBJECT_TYPES.get(r.object_type, r.object_type)
    if not r.object_id:
        return kind
    ids = _ids([r.object_id])
    name = names.get((r.object_type, next(iter(ids)))) if ids else None
    if name is not None:
        return f"{kind} {name}"
    if r.object_type == "account" and not ids:  # a sign-in under a name, real or made up
        return f"{kind} {r.object_id}"
    return f"{kind} #{r.object_id}"


@requires(Perm.AUDIT_READ)
async def audit_list(request: web.Request) -> web.StreamResponse:
    req = page_request(request)
    action = request.query.get("action", "")[:64]
    async with request.app[DB]() as db:
        page = await audit.list_records(db, principal(request), req, action)
        names = await _names(db, page.items)
    lines = [
        Line(r, audit_action(r.action), _actor(r, names), _target(r, names), audit_detail(r.detail))
        for r in page.items
    ]
    return render(
        "audit/list.html",
        request,
        {
            "items": lines,
            "pager": pager(request, page),
            "action": action,
            "actions": AUDIT_ACTIONS,
        },
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/audit", audit_list)
