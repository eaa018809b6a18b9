"""The readiness deadline: pure computation over a holiday calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling import calendar, deadline
from scheduling.config import DeadlineMode, SchedulingConfig
from scheduling.deadline import WorkCalendar, readiness_deadline, status

VN = ZoneInfo("Asia/Ho_Chi_Minh")
CAL = SchedulingConfig()
WORK = SchedulingConfig(deadline_mode=DeadlineMode.WORKING)
NO_HOLIDAYS = WorkCalendar()


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=VN)


def test_early_monday_calendar_day_is_sunday_working_day_is_friday() -> None:
    monday = local(2026, 11, 30, 7, 30)
    assert readiness_deadline(monday, CAL, NO_HOLIDAYS) == local(2026, 11, 29, 15)
    assert readiness_deadline(monday, WORK, NO_HOLIDAYS) == local(2026, 11, 27, 15)


def test_just_after_midnight_counts_the_local_day_not_the_utc_day() -> None:
    # 00:15 on Tuesday in Hanoi is still Monday 17:15 in UTC.
    starts = local(2026, 12, 1, 0, 15).astimezone(UTC)
    assert starts.date() == date(2026, 11, 30)
    assert readiness_deadline(starts, CAL, NO_HOLIDAYS) == local(2026, 11, 30, 15)
    assert readiness_deadline(starts, WORK, NO_HOLIDAYS) == local(2026, 11, 30, 15)
    # The deadline is earlier than the session by nine and a quarter hours, not a day.
    assert starts - readiness_deadline(starts, CAL, NO_HOLIDAYS) == timedelta(hours=9, minutes=15)


def test_day_after_a_holiday_in_working_mode_goes_back_past_it() -> None:
    national_day = WorkCalendar(holidays=frozenset({date(2026, 9, 1), date(2026, 9, 2)}))
    thursday = local(2026, 9, 3, 8)
    assert readiness_deadline(thursday, WORK, national_day) == local(2026, 8, 31, 15)
    assert readiness_deadline(thursday, CAL, national_day) == local(2026, 9, 2, 15)


def test_after_tet_the_working_day_before_is_a_week_earlier() -> None:
    tet = WorkCalendar(holidays=frozenset(date(2026, 2, d) for d in range(16, 21)))
    assert readiness_deadline(local(2026, 2, 23, 8), WORK, tet) == local(2026, 2, 13, 15)


def test_make_up_saturday_is_a_working_day() -> None:
    makeup = WorkCalendar(working_days=frozenset({date(2026, 12, 5)}))
    monday = local(2026, 12, 7, 8)
    assert readiness_deadline(monday, WORK, makeup) == local(2026, 12, 5, 15)
    assert readiness_deadline(monday, WORK, NO_HOLIDAYS) == local(2026, 12, 4, 15)


def test_hour_and_minute_are_settings() -> None:
    cfg = SchedulingConfig(deadline_hour=16, deadline_minute=30)
    assert readiness_deadline(local(2026, 11, 26, 8), cfg, NO_HOLIDAYS) == local(
        2026, 11, 25, 16, 30
    )
    with pytest.raises(ValueError):
        SchedulingConfig(deadline_hour=24)


def test_a_time_without_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="zone"):
        readiness_deadline(datetime(2026, 11, 30, 8), CAL, NO_HOLIDAYS)


def test_a_calendar_without_working_days_is_reported() -> None:
    everything_off = WorkCalendar(
        holidays=frozenset(date(2026, 11, 1) + timedelta(days=i) for i in range(40))
    )
    with pytest.raises(ValueError, match="holiday calendar"):
        readiness_deadline(local(2026, 12, 10, 8), WORK, everything_off)


def test_status_turns_overdue_at_the_deadline() -> None:
    starts = local(2026, 11, 26, 8)
    due = readiness_deadline(starts, CAL, NO_HOLIDAYS)
    assert status("pending", due, False, starts, due - timedelta(seconds=1)) == "pending"
    assert status("pending", due, False, starts, due) == "overdue"
    assert status("passed", due, False, starts, due + timedelta(hours=1)) == "passed"
    assert status("failed", due, False, starts, due + timedelta(hours=1)) == "failed"


def test_created_after_the_deadline_is_due_at_once_and_overdue_from_the_start() -> None:
    starts = local(2026, 11, 26, 8)
    due = readiness_deadline(starts, CAL, NO_HOLIDAYS)
    created = due + timedelta(hours=2)
    assert deadline.is_late(created, due)
    assert not deadline.is_late(due - timedelta(minutes=1), due)
    assert status("pending", due, True, starts, created) == "pending"
    assert status("pending", due, True, starts, starts) == "overdue"


def test_rescheduled_across_the_deadline() -> None:
    now = local(2026, 11, 25, 16)  # Wednesday 16:00
    friday = local(2026, 11, 27, 8)
    thursday = local(2026, 11, 26, 8)
    assert not deadline.is_late(now, readiness_deadline(friday, CAL, NO_HOLIDAYS))
    # Moved a day earlier: its deadline (Wednesday 15:00) is already past.
    assert deadline.is_late(now, readiness_deadline(thursday, CAL, NO_HOLIDAYS))


async def test_the_2026_holidays_are_data_in_the_database(db: AsyncSession) -> None:
    days = await calendar.list_days(db, 2026)
    assert {d.day for d in days} >= {date(2026, 1, 1), date(2026, 4, 30), date(2026, 9, 2)}
    assert sum(1 for d in days if d.name.startswith("Tết Nguyên đán")) == 5
    starts = local(2026, 9, 3, 8)
    first, last = deadline.calendar_span(starts, WORK)
    cal = await calendar.load(db, first, last)
    assert readiness_deadline(starts, WORK, cal) == local(2026, 8, 31, 15)
