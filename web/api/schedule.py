"""Scheduling's HTTP face: readiness, checks, the holiday calendar, the .ics feed, leaders'
duties, notifications; and `scheduling_ctx`, which runs the reminder service."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy.orm import selectinload

from scheduling import board, calendar, duties, ical, notify, readiness
from scheduling.checks import Figures
from scheduling.config import SchedulingConfig
from scheduling.mail import Mailer
from scheduling.reminders import ReminderService
from sessions import audit, units
from sessions.access import Perm, Principal
from sessions.accounts import principal_for
from sessions.db import transaction
from sessions.errors import Forbidden, NotFound
from sessions.models import Account, CalendarDay, CalendarDayKind, Notification
from web import inbound
from web.auth import audit_context
from web.http import ok, principal, public, requires
from web.keys import CLOCK, CONFIG, DB
from web.live import LIVE
from web.readiness_media import measured
from web.serialize import iso
from web.validation import (
    MAX_ID,
    Fields,
    ascii_int,
    path_date,
    path_id,
    query_month,
    query_year,
    read_json,
)

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
CHECK_FIELDS = {*FIGURE_LIMITS, "width", "height", "audio_level_seen", "error"}
CALENDAR_FIELDS = {"kind", "name"}


def scheduling_config(app: web.Application) -> SchedulingConfig:
    """The settings the composition root put under SCHEDULING, or the defaults in the app's
    time zone."""
    cfg = app.get(SCHEDULING)
    return cfg if cfg is not None else SchedulingConfig(time_zone=app[CONFIG].time_zone)


class ReadinessFeed:
    """Tells the readiness board's live streams to look again: when a check is stored, and
    on a periodic tick (a deadline passes with the clock, not with a request). Each stream
    recomputes its own board and sends it only when it changed."""

    def __init__(self, tick_seconds: float) -> None:
        self._tick_seconds = tick_seconds
        self._listeners: set[asyncio.Event] = set()
        self._task: asyncio.Task[None] | None = None
        self.closing = False

    def listen(self) -> asyncio.Event:
        event = asyncio.Event()
        self._listeners.add(event)
        return event

    def forget(self, event: asyncio.Event) -> None:
        self._listeners.discard(event)

    def changed(self) -> None:
        for event in self._listeners:
            event.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._tick(), name="readiness-feed-tick")

    def close_streams(self) -> None:
        """The app is shutting down: every stream ends now rather than at the server's
        shutdown timeout."""
        self.closing = True
        self.changed()

    async def stop(self) -> None:
        self.close_streams()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._tick_seconds)  # a periodic timer, not a wait for a state
            self.changed()


READINESS_FEED = web.AppKey("readiness_feed", ReadinessFeed)


async def scheduling_ctx(app: web.Application) -> AsyncIterator[None]:
    """Register after the database context: `app.cleanup_ctx.append(scheduling_ctx)`."""
    cfg = scheduling_config(app)
    mailer = Mailer(cfg.smtp, log) if cfg.smtp is not None else None
    service = ReminderService(app[DB], app[CLOCK], cfg, log, mailer)
    feed = ReadinessFeed(cfg.board_tick_seconds)
    app[REMINDERS] = service
    app[READINESS_FEED] = feed
    service.start()
    feed.start()
    try:
        yield
    finally:
        await feed.stop()
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
    error = f.text("error", max_len=500)
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
        error=error or "",
    )


@requires(Perm.SESSIONS_READ)  # and, checked in scheduling.readiness, the endpoint's own staff
async def submit_check(request: web.Request) -> web.StreamResponse:
    """The check page posts what the browser measured while still in the test room; the
    verdict is on what the bridge measured of the caller's media there."""
    p = principal(request)
    endpoint_id = path_id(request)
    reported = _figures(Fields(await read_json(request), CHECK_FIELDS))
    cfg = scheduling_config(request.app)
    basis = measured(request.app[LIVE].bridge, endpoint_id, p.account_id)
    async with transaction(request.app[DB]) as db:
        result = await readiness.submit(
            db, p, endpoint_id, basis, reported, request.app[CLOCK](), cfg
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
                "figures": result.figures,
                "session_ids": list(result.session_ids),
            },
        )
    feed = request.app.get(READINESS_FEED)
    if feed is not None:
        feed.changed()  # after the commit: the board's streams read the stored result
    return ok(
        {
            "endpoint_id": endpoint_id,
            "passed": result.verdict.passed,
            "state": "passed" if result.verdict.passed else "failed",
            "failure_reason": result.verdict.reason,
            "problems": list(result.verdict.problems),
            "figures": result.figures,
            "session_ids": list(result.session_ids),
        },
        201,
    )


# The readiness board -----------------------------------------------------------------------


def _board_session(b: board.SessionBoard, tz: tzinfo) -> dict[str, Any]:
    s = b.session
    return {
        "id": s.id,
        "title": s.title,
        "state": s.state.value,
        "starts_at": iso(s.starts_at, tz),
        "ends_at": iso(s.ends_at, tz),
        "endpoints": [
            _readiness(row.readiness, tz)
            | {"focal_staff": [{"full_name": c.full_name, "phone": c.phone} for c in row.contacts]}
            for row in b.rows
        ],
    }


async def board_data(app: web.Application, p: Principal) -> dict[str, Any]:
    """The board as the page and its stream show it; `now` is the app's clock, so that the
    page's countdowns follow the server's time."""
    cfg = scheduling_config(app)
    now = app[CLOCK]()
    async with app[DB]() as db:
        boards = await board.upcoming(db, p, now, cfg)
    sessions = [_board_session(b, cfg.tz) for b in boards]
    overdue = sum(1 for s in sessions for e in s["endpoints"] if e["state"] == "overdue")
    return {"now": iso(now, cfg.tz), "overdue": overdue, "sessions": sessions}


@requires(Perm.SESSIONS_WRITE)  # the reception officer (and admin), who schedules
async def readiness_board(request: web.Request) -> web.StreamResponse:
    return ok(await board_data(request.app, principal(request)))


def _sse(event: str, data: dict[str, Any]) -> bytes:
    # One JSON line per message: `data:` lines may not contain a newline (HTML, SSE).
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


@requires(Perm.SESSIONS_WRITE)
async def readiness_stream(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: the board now, then again whenever it changes. A client that
    does not ask for an event stream (Accept) gets the one event and the end of it."""
    p = principal(request)
    feed = request.app[READINESS_FEED]
    follow = "text/event-stream" in (inbound.header(request, "Accept") or "")
    wake = feed.listen()
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # nginx: do not hold the stream back
        }
    )
    try:
        await response.prepare(request)
        last: dict[str, Any] | None = None
        while not feed.closing:
            data = await board_data(request.app, p)
            if last is None or {**data, "now": None} != {**last, "now": None}:
                await response.write(_sse("board", data))
                last = data
            else:
                await response.write(b": tick\n\n")  # keeps proxies from closing the stream
            if not follow:
                break
            await wake.wait()
            wake.clear()
    except ConnectionResetError:
        pass  # the page went away; the next write told us
    finally:
        feed.forget(wake)
    return response


# The holiday calendar ----------------------------------------------------------------------


def _day(row: CalendarDay) -> dict[str, Any]:
    return {
        "date": row.day.isoformat(),
        "kind": row.kind.value,
        "name": row.name,
        "weekday": row.day.isoweekday(),
    }


def _year(request: web.Request) -> int:
    year = query_year(request, "year")
    if year is None:
        return request.app[CLOCK]().astimezone(scheduling_config(request.app).tz).year
    return year


@requires(Perm.SESSIONS_READ)
async def list_calendar_days(request: web.Request) -> web.StreamResponse:
    year = _year(request)
    async with request.app[DB]() as db:
        rows = await calendar.list_days(db, year)
    return ok({"year": year, "items": [_day(r) for r in rows]})


def _require_province_admin(p: Principal) -> None:
    """The holiday calendar is the province's: a day put or taken away moves every deadline
    of every unit, so only an administrator of the province itself (the root unit) may."""
    if not units.is_province_wide(p):
        raise Forbidden(
            "Chỉ quản trị viên cấp tỉnh được sửa lịch ngày nghỉ, ngày làm bù của toàn tỉnh.",
            {"date": "lịch chung của toàn tỉnh: cần quản trị viên cấp tỉnh"},
        )


# The administrator's permission (there is no calendar permission of its own yet), and only
# the province's administrators.
@requires(Perm.UNITS_WRITE)
async def put_calendar_day(request: web.Request) -> web.StreamResponse:
    _require_province_admin(principal(request))
    day = path_date(request)
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
    _require_province_admin(principal(request))
    day = path_date(request)
    async with transaction(request.app[DB]) as db:
        row = await calendar.delete_day(db, day)
        await audit.record(
            db, audit_context(request), "calendar.delete", "calendar_day", day, None, _day(row)
        )
    return ok({"deleted": day.isoformat()})


# The iCalendar feed ------------------------------------------------------------------------


@requires(Perm.SESSIONS_READ)
async def calendar_ics(request: web.Request) -> web.StreamResponse:
    return _ics_response(await _render_feed(request, principal(request), request.app[CLOCK]()))


def ics_token(secret: str, account: Account) -> str:
    """A feed link for calendar programs, which send no cookie: the account id and an HMAC
    over it and the time of the last password change, so changing the password revokes it."""
    message = f"ics:{account.id}:{account.password_changed_at.isoformat()}".encode()
    mac = hmac.new(secret.encode(), message, hashlib.sha256).digest()[:20]
    return f"{account.id}-{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


async def _token_account(request: web.Request, token: str) -> Account:
    head, _, _ = token.partition("-")
    gone = NotFound("Liên kết lịch không hợp lệ hoặc đã bị thu hồi.")
    account_id = ascii_int(head, 1, MAX_ID)
    if account_id is None or len(token) > 100:
        raise gone
    async with request.app[DB]() as db:
        account = await db.get(Account, account_id, options=[selectinload(Account.roles)])
    secret = request.app[CONFIG].secret_key
    if account is None or not account.active:
        raise gone
    if not hmac.compare_digest(ics_token(secret, account), token):
        raise gone
    return account


def _ics_response(body: bytes) -> web.Response:
    return web.Response(
        body=body,
        headers={
            "Content-Type": "text/calendar; charset=utf-8",
            "Content-Disposition": 'inline; filename="tiepdan.ics"',
            "Cache-Control": "private, no-store",
        },
    )


async def _render_feed(request: web.Request, p: Principal, now: datetime) -> bytes:
    host = urlsplit(request.app[CONFIG].public_base_url).hostname or "tiepdan"
    async with request.app[DB]() as db:
        events = await ical.feed(db, p, now, host)
    return ical.render(events, now, f"Lịch tiếp công dân – {p.full_name}")


@public  # the signed token in the path stands for the cookie
async def calendar_ics_signed(request: web.Request) -> web.StreamResponse:
    account = await _token_account(request, request.match_info["token"])
    async with request.app[DB]() as db:
        p = await principal_for(db, account)
    return _ics_response(await _render_feed(request, p, request.app[CLOCK]()))


async def ics_link(request: web.Request, p: Principal) -> str:
    """The caller's subscribable feed address."""
    async with request.app[DB]() as db:
        account = await db.get(Account, p.account_id)
    if account is None:
        raise NotFound("Không tìm thấy tài khoản.")
    base = request.app[CONFIG].public_base_url.rstrip("/") or f"{request.scheme}://{request.host}"
    token = ics_token(request.app[CONFIG].secret_key, account)
    return f"{base}/api/v1/calendar/{token}.ics"


@requires(Perm.SESSIONS_READ)
async def calendar_link(request: web.Request) -> web.StreamResponse:
    return ok({"url": await ics_link(request, principal(request))})


# Leaders' duties ---------------------------------------------------------------------------


def _month(request: web.Request) -> duties.Month:
    first = query_month(request, "month")
    if first is None:
        now = request.app[CLOCK]().astimezone(scheduling_config(request.app).tz)
        return duties.Month(now.year, now.month)
    return duties.Month(first.year, first.month)


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


async def _close_streams(app: web.Application) -> None:
    feed = app.get(READINESS_FEED)
    if feed is not None:
        feed.close_streams()


def setup(app: web.Application) -> None:
    app.on_shutdown.append(_close_streams)
    r = app.router
    r.add_get("/api/v1/sessions/{id:[0-9]+}/readiness", session_readiness)
    r.add_post("/api/v1/endpoints/{id:[0-9]+}/readiness-checks", submit_check)
    r.add_get("/api/v1/calendar-days", list_calendar_days)
    r.add_put("/api/v1/calendar-days/{date}", put_calendar_day)
    r.add_delete("/api/v1/calendar-days/{date}", delete_calendar_day)
    r.add_get("/api/v1/calendar.ics", calendar_ics)
    r.add_get("/api/v1/calendar/link", calendar_link)
    r.add_get("/api/v1/calendar/{token:[0-9]+-[A-Za-z0-9_-]+}.ics", calendar_ics_signed)
    r.add_get("/api/v1/readiness", readiness_board)
    r.add_get("/api/v1/readiness/stream", readiness_stream)
    r.add_get("/api/v1/reports/leader-duties", leader_duties)
    r.add_get("/api/v1/notifications", list_notifications)
    r.add_post("/api/v1/notifications/{id:[0-9]+}/read", read_notification)
