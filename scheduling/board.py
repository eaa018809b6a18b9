"""The readiness board: each upcoming session with its endpoints' readiness and the focal
staff to call (for the central reception officer)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling import readiness
from scheduling.config import SchedulingConfig
from sessions.access import Principal
from sessions.models import Account, AccountRole, ReceptionSession, Role
from sessions.receptions import visible

MAX_SESSIONS = 50


@dataclass(frozen=True, slots=True)
class Contact:
    full_name: str
    phone: str


@dataclass(frozen=True, slots=True)
class BoardRow:
    readiness: readiness.EndpointReadiness
    contacts: tuple[Contact, ...]


@dataclass(frozen=True, slots=True)
class SessionBoard:
    session: ReceptionSession
    rows: tuple[BoardRow, ...]


async def contacts(db: AsyncSession, endpoint_ids: set[int]) -> dict[int, tuple[Contact, ...]]:
    """The active focal staff of each endpoint, by name."""
    if not endpoint_ids:
        return {}
    rows = await db.execute(
        select(Account.endpoint_id, Account.full_name, Account.phone)
        .join(AccountRole, AccountRole.account_id == Account.id)
        .where(
            Account.endpoint_id.in_(endpoint_ids),
            Account.active.is_(True),
            AccountRole.role == Role.FOCAL_STAFF,
        )
        .order_by(Account.full_name)
    )
    out: dict[int, list[Contact]] = defaultdict(list)
    for eid, name, phone in rows:
        if eid is not None:
            out[eid].append(Contact(name, phone))
    return {eid: tuple(people) for eid, people in out.items()}


async def upcoming(
    db: AsyncSession, p: Principal, now: datetime, cfg: SchedulingConfig
) -> list[SessionBoard]:
    """Sessions not yet held that the principal sees, soonest first."""
    sessions = list(
        await db.scalars(
            select(ReceptionSession)
            .where(
                visible(p),
                ReceptionSession.state.in_(readiness.UPCOMING),
                ReceptionSession.starts_at > now,
            )
            .order_by(ReceptionSession.starts_at, ReceptionSession.id)
            .limit(MAX_SESSIONS)
        )
    )
    views = [await readiness.for_session(db, p, s.id, now, cfg) for s in sessions]
    people = await contacts(db, {r.endpoint_id for rows in views for r in rows})
    return [
        SessionBoard(s, tuple(BoardRow(r, people.get(r.endpoint_id, ())) for r in rows))
        for s, rows in zip(sessions, views, strict=True)
    ]
