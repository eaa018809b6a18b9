"""The readiness deadline: HH:MM local time of the (calendar or working) day before a session.

Pure functions over a `WorkCalendar`; the holidays and make-up working days it holds are data
(table `calendar_days`), loaded by `scheduling.calendar`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal

from scheduling.config import DeadlineMode, SchedulingConfig

# Tết and the weekends around it are the longest run of days off (about 9); a run this long
# means the calendar data is wrong, not that a working day lies further back.
MAX_LOOKBACK_DAYS = 31

ReadinessStatus = Literal["pending", "passed", "failed", "overdue"]


@dataclass(frozen=True, slots=True)
class WorkCalendar:
    """Monday to Friday, minus `holidays`, plus `working_days` (make-up Saturdays, swaps)."""

    holidays: frozenset[date] = frozenset()
    working_days: frozenset[date] = frozenset()

    def is_working_day(self, day: date) -> bool:
        if day in self.working_days:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5


def day_before(session_day: date, mode: DeadlineMode, calendar: WorkCalendar) -> date:
    """The day whose HH:MM is the deadline for a session held on `session_day` (local)."""
    day = session_day - timedelta(days=1)
    if mode is DeadlineMode.CALENDAR:
        return day
    for _ in range(MAX_LOOKBACK_DAYS):
        if calendar.is_working_day(day):
            return day
        day -= timedelta(days=1)
    raise ValueError(
        f"no working day in the {MAX_LOOKBACK_DAYS} days before {session_day.isoformat()}: "
        "check the holiday calendar"
    )


def local_day(moment: datetime, config: SchedulingConfig) -> date:
    if moment.tzinfo is None:
        raise ValueError("a session time must carry its zone")
    return moment.astimezone(config.tz).date()


def calendar_span(starts_at: datetime, config: SchedulingConfig) -> tuple[date, date]:
    """The dates (inclusive) whose calendar entries the deadline of `starts_at` can depend on."""
    day = local_day(starts_at, config)
    return day - timedelta(days=MAX_LOOKBACK_DAYS + 1), day


def readiness_deadline(
    starts_at: datetime, config: SchedulingConfig, calendar: WorkCalendar
) -> datetime:
    """The moment (aware, in the configured zone) by which endpoints must have passed."""
    day = day_before(local_day(starts_at, config), config.deadline_mode, calendar)
    at = time(config.deadline_hour, config.deadline_minute)
    return datetime.combine(day, at, tzinfo=config.tz)


def is_late(scheduled_at: datetime, deadline: datetime) -> bool:
    """Scheduled at or after the deadline: the check is due at once."""
    return scheduled_at >= deadline


def status(
    stored: Literal["pending", "passed", "failed"],
    deadline: datetime,
    scheduled_late: bool,
    starts_at: datetime,
    now: datetime,
) -> ReadinessStatus:
    """Pending turns overdue when the clock passes the deadline. A check scheduled late was
    due at once and had no fair deadline; it turns overdue when the session starts."""
    if stored != "pending":
        return stored
    due = starts_at if scheduled_late else deadline
    return "overdue" if now >= due else "pending"
