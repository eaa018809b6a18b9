"""Scheduling's HTTP face: readiness, checks, the holiday calendar, the .ics feed, leaders'
duties, notifications; and `scheduling_ctx`, which runs the reminder service."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import date, tzinfo
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from scheduling import calendar, duties, ical, notify, readiness
from scheduling.checks import Figures
from scheduling.config import SchedulingConfig
from scheduling.reminders import ReminderService
from sessions import audit
from sessions.access import Perm
from sessions.db import transaction
from sessions.errors import Invalid
from sessions.models import CalendarDay, CalendarDayKind, Notification
from web.auth import audit_context
from web.http import ok, principal, requires
from web.keys import CLOCK, CONFIG, DB
from web.serialize import iso
from web.validation import Fields, path_id, read_json

log = logging.getLogger("tiepdan.scheduling")

SCHEDULING = web.AppKey("scheduling_config", SchedulingConfig)
REMINDERS = web.AppKey("scheduling_reminders", ReminderService)

FIGURE_LIMITS: dict[str, float] = {
    "rtt_ms": 600_000,
    "loss_pct": 100,
    "jitter_ms": 600_000,
    "bitrate_kbps": 10_000_000,
    "fps": 1000,
}
CHECK_FIELDS = {*FIGURE_LIMITS, "width", "height", "audio_level_seen"}
CALENDAR_FIELDS = {"kind", "name"}


def scheduling_config(app: web.Application) -> SchedulingConfig:
    """The settings the composition root put under SCHEDULING, or the defaults in the app's
    time zone."""
    cfg = app.get(SCHEDULING)
    return cfg if cfg is not None else SchedulingConfig(time_zone=app[CONFIG].time_zone)


async def scheduling_ctx(app: web.Application) -> AsyncIterator[None]:
    """Register after the database context: `app.cleanup_ctx.append(scheduling_ctx)`."""
    service = ReminderService(app[DB], app[CLOCK], scheduling_config(app), log)
    app[REMINDERS] = service
    service.start()
    try:
        yield
    finally:
        await service.stop()


# Readiness ---------------------------------------------------------------------------------


def _readiness(r: readiness.EndpointReadiness, tz: tzinfo) -> dict[str, Any]:
    return {
        "endpoint_id": r.endpoint_id,
        "endpoint_name": r.endpoint_name,
        "contact_phone": r.contact_phone,
        "state": r.state,
        "deadline": iso(r.deadline, tz),
        # Scheduled after the deadline had passed: the check is due at once.
        "due_immediately": r.due_immediately,
        "checked_at": iso(r.checked_at, tz),
        "checked_by": r.checked_by_id,
        "checked_by_name": r.checked_by_name,
        "figures": r.figures,
        "failure_reason": r.failure_reason,
    }


@requires(Perm.SESSIONS_READ)
async def session_readiness(request: web.Request) -> web.StreamResponse:
    cfg = scheduling_config(request.app)
    async with request.app[DB]() as db:
        rows = await readiness.for_session(
            db, principal(request), path_id(request), request.app[CLOCK](), cfg
        )
    return ok({"endpoints": [_readiness(r, cfg.tz) for r in rows]})


def _number(f: Fields, name: str, hi: float) -> float:
    value = f.data.get(name)
    if value is None:
        f.errors[name] = "bắt buộc"
    elif isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= hi:
        f.errors[name] = f"phải là số từ 0 đến {hi:g}"
    else:
        return float(value)
    return 0.0


def _figures(f: Fields) -> Figures:
    nums = {name: _number(f, name, hi) for name, hi in FIGURE_LIMITS.items()}
    width = f.integer("width", required=True, lo=0, hi=16384)
    height = f.integer("height", required=True, lo=0, hi=16384)
    audio = f.boolean("audio_level_seen", required=True)
    f.done()
    return Figures(
        rtt_ms=nums["rtt_ms"],
        loss_pct=nums["loss_pct"],
        jitter_ms=nums["jitter_ms"],
        bitrate_kbps=nums["bitrate_kbps"],
        fps=nums["fps"],
        width=width or 0,
        height=height or 0,
        audio_level_seen=bool(audio),
    )


@requires(Perm.SESSIONS_READ)  # and, checked in scheduling.readiness, the endpoint's own staff
async def submit_check(request: web.Request) -> web.StreamResponse:
    endpoint_id = path_id(request)
    figures = _figures(Fields(await read_json(request), CHECK_FIELDS))
    cfg = scheduling_config(request.app)
    async with transaction(request.app[DB]) as db:
        result = await readiness.submit(
            db, principal(request), endpoint_id, figures, request.app[CLOCK](), cfg
        )
        await audit.record(
            db,
            audit_context(request),
            "readiness.check",
            "endpoint",
            endpoint_id,
            result.endpoint.unit_id,
            {
                "passed": result.verdict.passed,
                "figures": figures.as_dict(),
                "session_ids": list(result.session_ids),
            },
        )
    return ok(
        {
            "endpoint_id": endpoint_id,
            "passed": result.verdict.passed,
            "state": "passed" if result.verdict.passed else "failed",
            "failure_reason": result.verdict.reason,
            "problems": list(result.verdict.problems),
            "figures": figures.as_dict(),
            "session_ids": list(result.session_ids),
        },
        201,
    )


# The holiday calendar ----------------------------------------------------------------------


def _day(row: CalendarDay) -> dict[str, Any]:
    return {
        "date": row.day.isoformat(),
        "kind": row.kind.value,
        "name": row.name,
        "weekday": row.day.isoweekday(),
    }


def _path_date(request: web.Request) -> date:
    raw = request.match_info["date"]
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise Invalid("Ngày không hợp lệ.", {"date": "phải theo dạng YYYY-MM-DD"}) from None


def _year(request: web.Request) -> int:
    raw = request.query.get("year", "")
    if not raw:
        return request.app[CLOCK]().astimezone(scheduling_config(request.app).tz).year
    if not raw.isdigit() or not 2000 <= int(raw) <= 2100:
        raise Invalid("Tham số không hợp lệ.", {"year": "phải là năm từ 2000 đến 2100"})
    return int(raw)


@requires(Perm.SESSIONS_READ)
async def list_calendar_days(request: web.Request) -> web.StreamResponse:
    year = _year(request)
    async with request.app[DB]() as db:
        rows = await calendar.list_days(db, year)
    return ok({"year": year, "items": [_day(r) for r in rows]})


# The administrator's permission: there is no calendar permission of its own yet.
@requires(Perm.UNITS_WRITE)
async def put_calendar_day(request: web.Request) -> web.StreamResponse:
    day = _path_date(request)
    f = Fields(await read_json(request), CALENDAR_FIELDS)
    kind = f.choice("kind", CalendarDayKind, required=True)
    name = f.text("name", required=True)
    f.done()
    assert kind is not None and name is not None
    async with transaction(request.app[DB]) as db:
        row, created = await calendar.put_day(db, day, kind, name, request.app[CLOCK]())
        await audit.record(
            db, audit_context(request), "calendar.put", "calendar_day", day, None, _day(row)
        )
    return ok(_day(row), 201 if created else 200)


@requires(Perm.UNITS_WRITE)
async def delete_calendar_day(request: web.Request) -> web.StreamResponse:
    day = _path_date(request)
    async with transaction(request.app[DB]) as db:
        row = await calendar.delete_day(db, day)
        await audit.record(
            db, audit_context(request), "calendar.delete", "calendar_day", day, None, _day(row)
        )
    return ok({"deleted": day.isoformat()})


# The iCalendar feed ------------------------------------------------------------------------


@requires(Perm.SESSIONS_READ)
async def calendar_ics(request: web.Request) -> web.StreamResponse:
    p = principal(request)
    now = request.app[CLOCK]()
    host = urlsplit(request.app[CONFIG].public_base_url).hostname or "tiepdan"
    async with request.app[DB]() as db:
        events = await ical.feed(db, p, now, host)
    body = ical.render(events, now, f"Lịch tiếp công dân – {p.full_name}")
    return web.Response(
        body=body,
        headers={
            "Content-Type": "text/calendar; charset=utf-8",
            "Content-Disposition": 'inline; filename="tiepdan.ics"',
            "Cache-Control": "private, no-store",
        },
    )


# Leaders' duties ---------------------------------------------------------------------------


def _month(request: web.Request) -> duties.Month:
    raw = request.query.get("month", "")
    if not raw:
        now = request.app[CLOCK]().astimezone(scheduling_config(request.app).tz)
        return duties.Month(now.year, now.month)
    try:
        return duties.Month.parse(raw)
    except ValueError:
        raise Invalid("Tham số không hợp lệ.", {"month": "phải theo dạng YYYY-MM"}) from None


def _duty(d: duties.LeaderDuty) -> dict[str, Any]:
    rule = d.rule
    return {
        "account_id": d.account.id,
        "full_name": d.account.full_name,
        "title": d.account.title,
        "unit_id": d.unit.id,
        "unit_name": d.unit.name,
        "level_code": d.unit.level_code,
        "rule": None
        if rule is None
        else {
            "times": rule.times,
            "period": rule.period.value,
            "effective_from": rule.effective_from.isoformat(),
            "basis": rule.basis,
        },
        "required_days": d.required_days,
        "days_held": d.days_held,
        "sessions_held": len(d.sessions_held),
        "session_ids": list(d.sessions_held),
        "met": d.met,
    }


@requires(Perm.ACCOUNTS_READ)
async def leader_duties(request: web.Request) -> web.StreamResponse:
    month = _month(request)
    tz = scheduling_config(request.app).tz
    async with request.app[DB]() as db:
        rows = await duties.report(db, principal(request), month, tz)
    return ok({"month": str(month), "items": [_duty(d) for d in rows]})


# Notifications -----------------------------------------------------------------------------


def _notification(n: Notification, tz: tzinfo) -> dict[str, Any]:
    return {
        "id": n.id,
        "kind": n.kind,
        "session_id": n.session_id,
        "text": n.text,
        "created_at": iso(n.created_at, tz),
        "read_at": iso(n.read_at, tz),
    }


@requires(None)
async def list_notifications(request: web.Request) -> web.StreamResponse:
    unread = request.query.get("unread", "") in ("1", "true")
    tz = scheduling_config(request.app).tz
    async with request.app[DB]() as db:
        rows = await notify.list_for(db, principal(request).account_id, unread)
    return ok({"items": [_notification(n, tz) for n in rows]})


@requires(None)
async def read_notification(request: web.Request) -> web.StreamResponse:
    tz = scheduling_config(request.app).tz
    async with transaction(request.app[DB]) as db:
        row = await notify.mark_read(
            db, principal(request).account_id, path_id(request), request.app[CLOCK]()
        )
    return ok(_notification(row, tz))


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/sessions/{id:\\d+}/readiness", session_readiness)
    r.add_post("/api/v1/endpoints/{id:\\d+}/readiness-checks", submit_check)
    r.add_get("/api/v1/calendar-days", list_calendar_days)
    r.add_put("/api/v1/calendar-days/{date}", put_calendar_day)
    r.add_delete("/api/v1/calendar-days/{date}", delete_calendar_day)
    r.add_get("/api/v1/calendar.ics", calendar_ics)
    r.add_get("/api/v1/reports/leader-duties", leader_duties)
    r.add_get("/api/v1/notifications", list_notifications)
    r.add_post("/api/v1/notifications/{id:\\d+}/read", read_notification)
