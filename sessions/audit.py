"""The append-only audit log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.access import Principal
from sessions.models import Account, AuditRecord, Unit
from sessions.paging import Page, PageRequest, paginate


@dataclass(frozen=True, slots=True)
class AuditContext:
    """Who acts and from where; `web/` builds one per request."""

    principal: Principal | None
    ip: str = ""
    request_id: str = ""


async def record(
    db: AsyncSession,
    ctx: AuditContext,
    action: str,
    object_type: str = "",
    object_id: object = "",
    unit_id: int | None = None,
    detail: dict[str, Any] | None = None,
    actor_username: str | None = None,
) -> AuditRecord:
    p = ctx.principal
    row = AuditRecord(
        actor_id=p.account_id if p else None,
        actor_username=actor_username if actor_username is not None else (p.username if p else ""),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        unit_id=unit_id,
        detail=detail or {},
        ip=ctx.ip,
        request_id=ctx.request_id,
    )
    db.add(row)
    await db.flush()
    return row


async def list_records(
    db: AsyncSession, p: Principal, req: PageRequest, action: str = "", actor_id: int | None = None
) -> Page[AuditRecord]:
    """Records of the principal's units: acts on them, or by their accounts. Failed logins
    of unknown usernames (no unit) are shown to province-wide auditors only."""
    from sessions.units import in_scope

    scope = select(Unit.id).where(in_scope(p))
    stmt = select(AuditRecord).order_by(AuditRecord.id.desc())
    actor_in_scope = AuditRecord.actor_id.in_(select(Account.id).where(Account.unit_id.in_(scope)))
    conds: list[ColumnElement[bool]] = [AuditRecord.unit_id.in_(scope), actor_in_scope]
    if p.unit_path.count("/") == 2:  # the province root
        conds.append(and_(AuditRecord.unit_id.is_(None), AuditRecord.actor_id.is_(None)))
    stmt = stmt.where(or_(*conds))
    if action:
        stmt = stmt.where(AuditRecord.action == action)
    if actor_id is not None:
        stmt = stmt.where(AuditRecord.actor_id == actor_id)
    return await paginate(db, stmt, req)
