"""Readiness per (session, endpoint): kept in step with the session, judged by checks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling import calendar, checks, deadline
from scheduling.checks import Figures, Measured, Verdict
from scheduling.config import SchedulingConfig
from sessions import receptions
from sessions.access import Principal
from sessions.errors import Forbidden, NotFound
from sessions.models import (
    Account,
    Endpoint,
    Readiness,
    ReadinessState,
    ReceptionSession,
    Role,
    SessionEndpoint,
    SessionState,
)

# Sessions a check counts for: not yet held, not cancelled.
UPCOMING = frozenset({SessionState.DRAFT, SessionState.SCHEDULED})


async def deadline_of(db: AsyncSession, starts_at: datetime, cfg: SchedulingConfig) -> datetime:
    first, last = deadline.calendar_span(starts_at, cfg)
    return deadline.readiness_deadline(starts_at, cfg, await calendar.load(db, first, last))


async def _rows(db: AsyncSession, session_id: int) -> dict[int, Readiness]:
    rows = await db.scalars(select(Readiness).where(Readiness.session_id == session_id))
    return {r.endpoint_id: r for r in rows}


async def sync(
    db: AsyncSession,
    s: ReceptionSession,
    now: datetime,
    cfg: SchedulingConfig,
    rescheduled: bool,
) -> None:
    """One row per participating endpoint: add the new, drop the removed. An endpoint added
    after the deadline, or every endpoint when the session is (re)scheduled after it, has its
    check due at once."""
    rows = await _rows(db, s.id)
    wanted = {e.endpoint_id for e in s.endpoints}
    for eid in rows.keys() - wanted:
        await db.delete(rows.pop(eid))
    late = deadline.is_late(now, await deadline_of(db, s.starts_at, cfg))
    for eid in sorted(wanted):
        row = rows.get(eid)
        if row is None:
            db.add(Readiness(session_id=s.id, endpoint_id=eid, scheduled_late=late))
        elif rescheduled:
            row.scheduled_late = late
    await db.flush()


@dataclass(frozen=True, slots=True)
class EndpointReadiness:
    endpoint_id: int
    endpoint_name: str
    contact_phone: str
    state: deadline.ReadinessStatus
    deadline: datetime
    due_immediately: bool
    checked_at: datetime | None
    checked_by_id: int | None
    checked_by_name: str | None
    figures: dict[str, Any] | None
    failure_reason: str


async def _view(
    db: AsyncSession,
    s: ReceptionSession,
    eid: int,
    row: Readiness | None,
    due: datetime,
    now: datetime,
) -> EndpointReadiness:
    ep = await db.get(Endpoint, eid)
    stored = row.state if row else ReadinessState.PENDING
    late = row.scheduled_late if row else False
    checker = await db.get(Account, row.checked_by_id) if row and row.checked_by_id else None
    return EndpointReadiness(
        endpoint_id=eid,
        endpoint_name=ep.name if ep else "",
        contact_phone=ep.contact_phone if ep else "",
        state=deadline.status(stored.value, due, late, s.starts_at, now),
        deadline=due,
        due_immediately=late,
        checked_at=row.checked_at if row else None,
        checked_by_id=row.checked_by_id if row else None,
        checked_by_name=checker.full_name if checker else None,
        figures=row.figures if row else None,
        failure_reason=row.failure_reason if row else "",
    )


async def for_session(
    db: AsyncSession, p: Principal, session_id: int, now: datetime, cfg: SchedulingConfig
) -> list[EndpointReadiness]:
    """Each participating endpoint's readiness; focal staff see only their own endpoint."""
    s = await receptions.get_session(db, p, session_id)
    due = await deadline_of(db, s.starts_at, cfg)
    rows = await _rows(db, s.id)
    ids = [e.endpoint_id for e in s.endpoints]
    if p.only_own_endpoint:
        ids = [i for i in ids if i == p.endpoint_id]
    return [await _view(db, s, eid, rows.get(eid), due, now) for eid in ids]


@dataclass(frozen=True, slots=True)
class CheckResult:
    endpoint: Endpoint
    verdict: Verdict
    session_ids: tuple[int, ...]
    figures: dict[str, Any]  # as stored: the bridge's figures, the browser's beside


async def _due_sessions(
    db: AsyncSession, endpoint_id: int, now: datetime, cfg: SchedulingConfig
) -> Sequence[ReceptionSession]:
    rows = await db.scalars(
        select(ReceptionSession)
        .join(SessionEndpoint, SessionEndpoint.session_id == ReceptionSession.id)
        .where(
            SessionEndpoint.endpoint_id == endpoint_id,
            ReceptionSession.state.in_(UPCOMING),
            ReceptionSession.starts_at > now,
            ReceptionSession.starts_at <= now + cfg.check_window,
        )
        .order_by(ReceptionSession.starts_at)
    )
    return rows.all()


async def due_sessions(
    db: AsyncSession, endpoint_id: int, now: datetime, cfg: SchedulingConfig
) -> Sequence[ReceptionSession]:
    """The upcoming sessions a check of this endpoint counts for, soonest first."""
    return await _due_sessions(db, endpoint_id, now, cfg)


def _may_check(p: Principal, endpoint_id: int) -> bool:
    return Role.FOCAL_STAFF in p.roles and p.endpoint_id == endpoint_id


async def submit(
    db: AsyncSession,
    p: Principal,
    endpoint_id: int,
    measured: Measured | None,
    reported: Figures,
    now: datetime,
    cfg: SchedulingConfig,
) -> CheckResult:
    """Judge what the bridge measured of the endpoint's media in its test room (`measured`,
    None when it measured nothing) and store the result on every session the endpoint is
    due for, with the browser's `reported` figures beside: shown, never decisive."""
    ep = await db.get(Endpoint, endpoint_id)
    if ep is None:
        raise NotFound(f"Không tìm thấy điểm cầu #{endpoint_id}.")
    if not _may_check(p, endpoint_id):
        raise Forbidden("Chỉ cán bộ đầu mối của điểm cầu này được kiểm tra kết nối của điểm cầu.")
    verdict = checks.judge(measured, cfg.thresholds, reported.error)
    figures = checks.stored(measured, reported, cfg.thresholds)
    sessions = await _due_sessions(db, endpoint_id, now, cfg)
    for s in sessions:
        row = (await _rows(db, s.id)).get(endpoint_id)
        if row is None:  # a session made before readiness was tracked
            row = Readiness(session_id=s.id, endpoint_id=endpoint_id, scheduled_late=False)
            db.add(row)
        row.state = ReadinessState.PASSED if verdict.passed else ReadinessState.FAILED
        row.checked_at = now
        row.checked_by_id = p.account_id
        row.figures = figures
        row.failure_reason = verdict.reason
    await db.flush()
    return CheckResult(ep, verdict, tuple(s.id for s in sessions), figures)
