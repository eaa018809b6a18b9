"""The holiday calendar (table `calendar_days`): yearly data an administrator edits."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling.deadline import WorkCalendar
from sessions.errors import Invalid, NotFound
from sessions.models import CalendarDay, CalendarDayKind
from sessions.text import nfc


async def load(db: AsyncSession, first: date, last: date) -> WorkCalendar:
    """The calendar's exceptions between `first` and `last`, inclusive."""
    rows = await db.scalars(
        select(CalendarDay).where(CalendarDay.day >= first, CalendarDay.day <= last)
    )
    holidays: set[date] = set()
    working: set[date] = set()
    for row in rows:
        (holidays if row.kind is CalendarDayKind.HOLIDAY else working).add(row.day)
    return WorkCalendar(frozenset(holidays), frozenset(working))


async def list_days(db: AsyncSession, year: int) -> list[CalendarDay]:
    rows = await db.scalars(
        select(CalendarDay)
        .where(CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31))
        .order_by(CalendarDay.day)
    )
    return list(rows)


async def put_day(
    db: AsyncSession, day: date, kind: CalendarDayKind, name: str, now: datetime
) -> tuple[CalendarDay, bool]:
    """Create or replace the entry for `day`; True when it was created."""
    if kind is CalendarDayKind.WORKING_DAY and day.weekday() < 5:
        raise Invalid(
            "Ngày làm bù phải là thứ Bảy hoặc Chủ nhật.",
            {"kind": f"{day.isoformat()} đã là ngày làm việc"},
        )
    row = await db.get(CalendarDay, day)
    created = row is None
    if row is None:
        row = CalendarDay(day=day)
        db.add(row)
    row.kind = kind
    row.name = nfc(name)
    row.updated_at = now
    await db.flush()
    return row, created


async def delete_day(db: AsyncSession, day: date) -> CalendarDay:
    row = await db.get(CalendarDay, day)
    if row is None:
        raise NotFound(f"Lịch không có mục cho ngày {day.isoformat()}.")
    await db.delete(row)
    await db.flush()
    return row
