"""Month and week calendar pages: /calendar?view=month|week&date=YYYY-MM-DD&unit=ID (a unit's
sessions) or without `unit` the account's own, with the link to its .ics feed."""

from __future__ import annotations

from datetime import date
from typing import Any, cast
from urllib.parse import urlencode

from aiohttp import web

from scheduling import calendar, calendar_view
from sessions import units
from sessions.access import Perm
from sessions.errors import Invalid
from sessions.models import Unit
from web.api.schedule import ics_link, scheduling_config
from web.http import principal, requires
from web.keys import CLOCK, DB
from web.pages import lookup
from web.pages.forms import render
from web.validation import query_date, query_id


def _view(request: web.Request) -> calendar_view.View:
    raw = request.query.get("view", "month")
    if raw not in ("month", "week"):
        raise Invalid("Tham số không hợp lệ.", {"view": "phải là month hoặc week"})
    return cast(calendar_view.View, raw)


def _date(request: web.Request, today: date) -> date:
    return query_date(request, "date") or today


async def _holidays(request: web.Request, days: list[date]) -> dict[date, str]:
    async with request.app[DB]() as db:
        rows = [r for y in {days[0].year, days[-1].year} for r in await calendar.list_days(db, y)]
    return {r.day: r.name for r in rows if r.kind.value == "holiday"}


def _url(view: str, day: date, unit: Unit | None) -> str:
    query: dict[str, Any] = {"view": view, "date": day.isoformat()}
    if unit is not None:
        query["unit"] = unit.id
    return "/calendar?" + urlencode(query)


@requires(Perm.SESSIONS_READ)
async def calendar_page(request: web.Request) -> web.StreamResponse:
    p = principal(request)
    cfg = scheduling_config(request.app)
    today = request.app[CLOCK]().astimezone(cfg.tz).date()
    view = _view(request)
    day = _date(request, today)
    unit_id = query_id(request, "unit")
    days = calendar_view.days_shown(view, day)
    async with request.app[DB]() as db:
        unit = await units.get_unit(db, p, unit_id) if unit_id is not None else None
        placed = await calendar_view.sessions_by_day(db, p, days, cfg.tz, unit)
        unit_options = await lookup.unit_choices(db, p)
    weeks = [days[i : i + 7] for i in range(0, len(days), 7)]
    title = (
        calendar_view.month_name(day)
        if view == "month"
        else f"Tuần {days[0]:%d/%m} – {days[-1]:%d/%m/%Y}"
    )
    return render(
        "calendar.html",
        request,
        {
            "view": view,
            "day": day,
            "today": today,
            "weeks": weeks,
            "placed": placed,
            "title": title,
            "weekdays": calendar_view.WEEKDAYS,
            "holidays": await _holidays(request, days),
            "unit": unit,
            "unit_options": unit_options,
            "prev_url": _url(view, calendar_view.step(view, day, False), unit),
            "next_url": _url(view, calendar_view.step(view, day, True), unit),
            "today_url": _url(view, today, unit),
            "month_url": _url("month", day, unit),
            "week_url": _url("week", day, unit),
            "ics_url": await ics_link(request, p),
            "can_schedule": p.can(Perm.SESSIONS_WRITE),
            # A day ahead shown: schedule on it; else the form's own default (tomorrow).
            "new_url": "/sessions/new"
            + ("?" + urlencode({"date": day.isoformat()}) if day > today else ""),
        },
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/calendar", calendar_page)
