"""Month and week calendars of reception sessions: which days a page shows, in Vietnamese,
and the sessions placed on their local-time days (per unit, or the account's own)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling.ical import mine
from sessions.access import Principal
from sessions.models import Endpoint, ReceptionSession, SessionEndpoint, Unit
from sessions.receptions import visible
from sessions.units import subtree

View = Literal["month", "week"]
WEEKDAYS = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")
MAX_SESSIONS = 500


def month_name(day: date) -> str:
    return f"Tháng {day.month} năm {day.year}"


def weekday_name(day: date) -> str:
    return WEEKDAYS[day.weekday()]


def days_shown(view: View, day: date) -> list[date]:
    """Whole weeks, Monday first: the week of `day`, or the weeks covering its month."""
    if view == "week":
        monday = day - timedelta(days=day.weekday())
        return [monday + timedelta(days=i) for i in range(7)]
    first = day.replace(day=1)
    start = first - timedelta(days=first.weekday())
    next_month = (first + timedelta(days=32)).replace(day=1)
    end = next_month + timedelta(days=(7 - next_month.weekday()) % 7)
    return [start + timedelta(days=i) for i in range((end - start).days)]


def step(view: View, day: date, forward: bool) -> date:
    """The same place one month or one week later (or earlier)."""
    if view == "week":
        return day + timedelta(days=7 if forward else -7)
    first = day.replace(day=1)
    if forward:
        return (first + timedelta(days=32)).replace(day=1)
    return (first - timedelta(days=1)).replace(day=1)


def span_utc(days: list[date], tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(days[0], time(), tz)
    end = datetime.combine(days[-1] + timedelta(days=1), time(), tz)
    return start, end


@dataclass(frozen=True, slots=True)
class Placed:
    session: ReceptionSession
    starts: datetime  # local
    ends: datetime  # local


def _of_unit(unit: Unit) -> ColumnElement[bool]:
    units = select(Unit.id).where(Unit.path.like(subtree(unit.path), escape="\\"))
    endpoints = select(Endpoint.id).where(Endpoint.unit_id.in_(units))
    return or_(
        ReceptionSession.unit_id.in_(units),
        ReceptionSession.central_endpoint_id.in_(endpoints),
        ReceptionSession.id.in_(
            select(SessionEndpoint.session_id).where(SessionEndpoint.endpoint_id.in_(endpoints))
        ),
    )


async def sessions_by_day(
    db: AsyncSession, p: Principal, days: list[date], tz: ZoneInfo, unit: Unit | None
) -> dict[date, list[Placed]]:
    """The sessions the principal sees in these days, on their local start day: those of
    `unit` (and below), or, without one, the account's own (as in its .ics feed)."""
    start, end = span_utc(days, tz)
    scope = _of_unit(unit) if unit is not None else mine(p)
    rows = await db.scalars(
        select(ReceptionSession)
        .where(
            visible(p),
            scope,
            ReceptionSession.starts_at >= start,
            ReceptionSession.starts_at < end,
        )
        .order_by(ReceptionSession.starts_at, ReceptionSession.id)
        .limit(MAX_SESSIONS)
    )
    out: dict[date, list[Placed]] = defaultdict(list)
    for s in rows:
        local = s.starts_at.astimezone(tz)
        out[local.date()].append(Placed(s, local, s.ends_at.astimezone(tz)))
    return dict(out)
