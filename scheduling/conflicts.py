"""Who and what is already booked: a chair or an endpoint in two sessions at once."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.errors import Conflict
from sessions.models import Account, Endpoint, ReceptionSession, SessionEndpoint, SessionState

# Sessions that hold their chair and endpoints. A draft holds nothing until it is scheduled
# (then it is checked like any other); an ended or cancelled one has let go.
BOOKING_STATES = frozenset({SessionState.SCHEDULED, SessionState.LIVE})


@dataclass(frozen=True, slots=True)
class Booking:
    session_id: int
    title: str
    chair_id: int
    endpoint_ids: frozenset[int]  # the central endpoint and the participating ones
    starts_at: datetime
    ends_at: datetime


class ClashKind(enum.StrEnum):
    CHAIR = "chair"
    ENDPOINT = "endpoint"


@dataclass(frozen=True, slots=True)
class Clash:
    kind: ClashKind
    other: Booking
    endpoint_id: int | None = None


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    """Half-open intervals: a session ending at 10:00 does not clash with one starting then."""
    return a_start < b_end and b_start < a_end


def find_clashes(plan: Booking, others: Iterable[Booking]) -> list[Clash]:
    clashes: list[Clash] = []
    for other in sorted(others, key=lambda b: (b.starts_at, b.session_id)):
        if other.session_id == plan.session_id:
            continue
        if not overlaps(plan.starts_at, plan.ends_at, other.starts_at, other.ends_at):
            continue
        if other.chair_id == plan.chair_id:
            clashes.append(Clash(ClashKind.CHAIR, other))
        for eid in sorted(plan.endpoint_ids & other.endpoint_ids):
            clashes.append(Clash(ClashKind.ENDPOINT, other, eid))
    return clashes


async def bookings_between(
    db: AsyncSession, starts_at: datetime, ends_at: datetime, exclude_id: int | None = None
) -> list[Booking]:
    stmt = select(ReceptionSession).where(
        ReceptionSession.state.in_(BOOKING_STATES),
        ReceptionSession.starts_at < ends_at,
        ReceptionSession.ends_at > starts_at,
    )
    if exclude_id is not None:
        stmt = stmt.where(ReceptionSession.id != exclude_id)
    sessions = list(await db.scalars(stmt))
    if not sessions:
        return []
    links = await db.execute(
        select(SessionEndpoint.session_id, SessionEndpoint.endpoint_id).where(
            SessionEndpoint.session_id.in_([s.id for s in sessions])
        )
    )
    eps: dict[int, set[int]] = {s.id: {s.central_endpoint_id} for s in sessions}
    for sid, eid in links:
        eps[sid].add(eid)
    return [
        Booking(s.id, s.title, s.chair_id, frozenset(eps[s.id]), s.starts_at, s.ends_at)
        for s in sessions
    ]


def when(b: Booking, tz: tzinfo) -> str:
    start, end = b.starts_at.astimezone(tz), b.ends_at.astimezone(tz)
    if start.date() == end.date():
        return f"{start:%H:%M}–{end:%H:%M} ngày {start:%d/%m/%Y}"
    return f"{start:%H:%M %d/%m/%Y} – {end:%H:%M %d/%m/%Y}"


async def _describe(db: AsyncSession, c: Clash, tz: tzinfo) -> str:
    other = f"phiên “{c.other.title}” (#{c.other.session_id}, {when(c.other, tz)})"
    if c.kind is ClashKind.CHAIR:
        chair = await db.get(Account, c.other.chair_id)
        name = chair.full_name if chair else f"#{c.other.chair_id}"
        return f"người chủ trì {name} đã chủ trì {other}"
    ep = await db.get(Endpoint, c.endpoint_id)
    name = ep.name if ep else f"#{c.endpoint_id}"
    return f"điểm cầu {name} đã được đặt cho {other}"


async def clashes_by_field(
    db: AsyncSession, plan: Booking, central_endpoint_id: int, tz: tzinfo
) -> dict[str, list[str]]:
    """What the plan's chair and endpoints are already booked for, in words, by the input
    field each clash belongs to (chair_id, central_endpoint_id, endpoint_ids)."""
    clashes = find_clashes(
        plan, await bookings_between(db, plan.starts_at, plan.ends_at, plan.session_id)
    )
    out: dict[str, list[str]] = {}
    for c in clashes:
        if c.kind is ClashKind.CHAIR:
            key = "chair_id"
        else:
            key = "central_endpoint_id" if c.endpoint_id == central_endpoint_id else "endpoint_ids"
        out.setdefault(key, []).append(await _describe(db, c, tz))
    return out


async def check(db: AsyncSession, plan: Booking, central_endpoint_id: int, tz: tzinfo) -> None:
    """Refuse (Conflict) a plan whose chair or endpoints are booked at overlapping times."""
    found = await clashes_by_field(db, plan, central_endpoint_id, tz)
    if not found:
        return
    described = [d for texts in found.values() for d in texts]
    fields = {k: "trùng lịch: " + "; ".join(v) for k, v in found.items()}
    raise Conflict("Trùng lịch: " + "; ".join(described) + ".", fields)
