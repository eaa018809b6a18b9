"""In-app notifications (table `notifications`) and who gets them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.errors import NotFound
from sessions.models import Account, AccountRole, Notification, ReceptionSession, Role
from sessions.text import nfc

MAX_LIST = 200


async def send(
    db: AsyncSession,
    account_ids: Iterable[int],
    text: str,
    kind: str,
    now: datetime,
    session_id: int | None = None,
) -> int:
    ids = sorted(set(account_ids))
    db.add_all(
        Notification(account_id=a, text=nfc(text), kind=kind, session_id=session_id, created_at=now)
        for a in ids
    )
    await db.flush()
    return len(ids)


async def focal_staff(db: AsyncSession, endpoint_ids: Iterable[int]) -> list[int]:
    """Active focal staff bound to any of these endpoints."""
    ids = list(endpoint_ids)
    if not ids:
        return []
    rows = await db.scalars(
        select(Account.id)
        .join(AccountRole, AccountRole.account_id == Account.id)
        .where(
            Account.endpoint_id.in_(ids),
            Account.active.is_(True),
            AccountRole.role == Role.FOCAL_STAFF,
        )
    )
    return sorted(set(rows))


async def officers_of(db: AsyncSession, s: ReceptionSession) -> list[int]:
    """The session's reception officer: who scheduled it, or else the officers of its unit."""
    if s.created_by_id is not None:
        creator = await db.get(Account, s.created_by_id)
        if creator is not None and creator.active:
            return [creator.id]
    rows = await db.scalars(
        select(Account.id)
        .join(AccountRole, AccountRole.account_id == Account.id)
        .where(
            Account.unit_id == s.unit_id,
            Account.active.is_(True),
            AccountRole.role == Role.RECEPTION_OFFICER,
        )
    )
    return sorted(set(rows))


async def list_for(
    db: AsyncSession, account_id: int, unread_only: bool = False, limit: int = 50
) -> list[Notification]:
    stmt = select(Notification).where(Notification.account_id == account_id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    stmt = stmt.order_by(Notification.id.desc()).limit(min(limit, MAX_LIST))
    return list(await db.scalars(stmt))


async def mark_read(
    db: AsyncSession, account_id: int, notification_id: int, now: datetime
) -> Notification:
    row = await db.get(Notification, notification_id)
    if row is None or row.account_id != account_id:
        raise NotFound(f"Không tìm thấy thông báo #{notification_id}.")
    if row.read_at is None:
        row.read_at = now
        await db.flush()
    return row


async def unread_count(db: AsyncSession, account_id: int) -> int:
    count = await db.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.account_id == account_id, Notification.read_at.is_(None))
    )
    return int(count or 0)
