"""Leaders' reception duties: sessions held against what the rules (data) require."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.access import Principal
from sessions.models import (
    Account,
    AccountRole,
    DutyPeriod,
    DutyRule,
    ReceptionSession,
    Role,
    SessionState,
    Unit,
)
from sessions.units import in_scope

HELD = frozenset({SessionState.ENDED, SessionState.ARCHIVED})


@dataclass(frozen=True, slots=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """YYYY-MM; ValueError otherwise."""
        if len(text) != 7 or text[4] != "-":
            raise ValueError(f"not YYYY-MM: {text!r}")
        first = date(int(text[:4]), int(text[5:]), 1)
        return cls(first.year, first.month)

    @property
    def first(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def next_first(self) -> date:
        return (self.first + timedelta(days=32)).replace(day=1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def rule_on(rules: Sequence[DutyRule], level: str, role: Role, day: date) -> DutyRule | None:
    """The rule in force on `day`: the latest one that took effect by then."""
    fitting = [r for r in rules if r.level_code == level and r.role == role]
    fitting = [r for r in fitting if r.effective_from <= day]
    return max(fitting, key=lambda r: r.effective_from, default=None)


def weeks_in(month: Month) -> int:
    """Weeks counted for the month: those whose Monday falls in it."""
    day, count = month.first, 0
    while day < month.next_first:
        count += day.weekday() == 0
        day += timedelta(days=1)
    return count


def required_days(rule: DutyRule, month: Month) -> int:
    # The rule in force on the month's first day sets the month's requirement.
    return rule.times if rule.period is DutyPeriod.MONTH else rule.times * weeks_in(month)


@dataclass(frozen=True, slots=True)
class LeaderDuty:
    account: Account
    unit: Unit
    rule: DutyRule | None
    required_days: int | None
    sessions_held: tuple[int, ...]
    days_held: int

    @property
    def met(self) -> bool | None:
        return None if self.required_days is None else self.days_held >= self.required_days


async def _leaders(db: AsyncSession, p: Principal) -> list[tuple[Account, Unit]]:
    rows = await db.execute(
        select(Account, Unit)
        .join(Unit, Unit.id == Account.unit_id)
        .join(AccountRole, AccountRole.account_id == Account.id)
        .where(AccountRole.role == Role.LEADER, Account.active.is_(True), in_scope(p))
        .order_by(Unit.path, Account.name_key)
    )
    return [(a, u) for a, u in rows]


async def report(db: AsyncSession, p: Principal, month: Month, tz: tzinfo) -> list[LeaderDuty]:
    leaders = await _leaders(db, p)
    rules = list(await db.scalars(select(DutyRule)))
    start = datetime.combine(month.first, time(), tzinfo=tz)
    end = datetime.combine(month.next_first, time(), tzinfo=tz)
    held = await db.execute(
        select(ReceptionSession.chair_id, ReceptionSession.id, ReceptionSession.starts_at)
        .where(
            ReceptionSession.chair_id.in_([a.id for a, _ in leaders]),
            ReceptionSession.state.in_(HELD),
            ReceptionSession.starts_at >= start,
            ReceptionSession.starts_at < end,
        )
        .order_by(ReceptionSession.starts_at)
    )
    by_chair: dict[int, list[tuple[int, datetime]]] = {}
    for chair_id, sid, at in held:
        by_chair.setdefault(chair_id, []).append((sid, at))
    out = []
    for account, unit in leaders:
        rule = rule_on(rules, unit.level_code, Role.LEADER, month.first)
        mine = by_chair.get(account.id, [])
        out.append(
            LeaderDuty(
                account=account,
                unit=unit,
                rule=rule,
                required_days=required_days(rule, month) if rule else None,
                sessions_held=tuple(sid for sid, _ in mine),
                days_held=len({at.astimezone(tz).date() for _, at in mine}),
            )
        )
    return out
