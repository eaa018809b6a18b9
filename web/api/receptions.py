"""Reception sessions: /api/v1/sessions."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling import planning
from sessions import audit, receptions
from sessions.access import Perm
from sessions.db import transaction
from sessions.errors import Conflict
from sessions.models import ReceptionSession, SessionKind, SessionState
from web import serialize
from web.api.schedule import scheduling_config
from web.auth import audit_context
from web.http import ok, principal, requires
from web.keys import CLOCK, CONFIG, DB
from web.validation import Fields, page_request, path_id, query_choice, read_json

SESSION_FIELDS = {
    "title",
    "kind",
    "unit_id",
    "chair_id",
    "central_endpoint_id",
    "starts_at",
    "ends_at",
    "notes",
    "endpoint_ids",
    "attendees",
    "agenda",
    "state",
}


async def _session_json(request: web.Request, db: AsyncSession, s: ReceptionSession) -> Any:
    heard = await receptions.agenda_views(db, audit_context(request), s, "api-session")
    return serialize.session(s, request.app[CONFIG].tz, heard)


@requires(Perm.SESSIONS_READ)
async def list_sessions(request: web.Request) -> web.StreamResponse:
    tz = request.app[CONFIG].tz
    state = query_choice(request, "state", SessionState)
    async with request.app[DB]() as db:
        result = await receptions.list_sessions(
            db, principal(request), page_request(request), state
        )
    return ok(serialize.page(result, [serialize.session_summary(s, tz) for s in result.items]))


@requires(Perm.SESSIONS_READ)
async def get_session(request: web.Request) -> web.StreamResponse:
    p = principal(request)
    async with transaction(request.app[DB]) as db:  # a shown identity is audited
        s = await receptions.get_session(db, p, path_id(request))
        body = await _session_json(request, db, s)
    return ok(body)


def _attendee(f: Fields) -> receptions.AttendeeInput:
    return receptions.AttendeeInput(
        account_id=f.integer("account_id"),
        guest_name=f.text("guest_name", allow_empty=True) or "",
        guest_organization=f.text("guest_organization", max_len=300, allow_empty=True) or "",
        capacity=f.text("capacity", allow_empty=True) or "",
    )


def _agenda(f: Fields) -> receptions.AgendaInput:
    return receptions.AgendaInput(
        case_id=f.integer("case_id", required=True) or 0,
        endpoint_id=f.integer("endpoint_id", required=True) or 0,
        citizen_ids=f.int_list("citizen_ids") or (),
        notes=f.text("notes", max_len=2000, allow_empty=True) or "",
    )


def session_input(f: Fields, creating: bool) -> receptions.SessionInput:
    """The input as far as it reads; what did not read stays in `f.errors` for the store,
    which adds every other problem and raises them all at once. A list with a bad item is
    left out (None): the store would number the items that did read differently."""
    data = receptions.SessionInput(
        title=f.text("title", required=creating, max_len=300),
        kind=f.choice("kind", SessionKind, required=creating),
        # Optional: the store takes the central endpoint's unit.
        unit_id=f.integer("unit_id"),
        chair_id=f.integer("chair_id", required=creating),
        central_endpoint_id=f.integer("central_endpoint_id", required=creating),
        starts_at=f.zoned_datetime("starts_at", required=creating),
        ends_at=f.zoned_datetime("ends_at", required=creating),
        notes=f.text("notes", max_len=5000, allow_empty=True),
        endpoint_ids=f.int_list("endpoint_ids"),
        attendees=f.items("attendees", _attendee),
        agenda=f.items("agenda", _agenda),
        state=f.choice("state", SessionState),
    )
    bad = {k.split("[")[0] for k in f.errors}
    return replace(
        data,
        attendees=None if "attendees" in bad else data.attendees,
        agenda=None if "agenda" in bad else data.agenda,
    )


@requires(Perm.SESSIONS_WRITE)
async def create_session(request: web.Request) -> web.StreamResponse:
    f = Fields(await read_json(request), SESSION_FIELDS)
    data = session_input(f, True)
    p = principal(request)
    now, cfg = request.app[CLOCK](), scheduling_config(request.app)
    async with transaction(request.app[DB]) as db:
        check = planning.plan_check(data, now, cfg, created=True)
        s = await receptions.create_session(db, p, data, check, f.errors)
        await planning.on_saved(db, s, data, now, cfg, created=True)
        await audit.record(db, audit_context(request), "session.create", "session", s.id, s.unit_id)
        s = await receptions.get_session(db, p, s.id)
        body = await _session_json(request, db, s)
    return ok(body, 201)


@requires(Perm.SESSIONS_WRITE)
async def update_session(request: web.Request) -> web.StreamResponse:
    f = Fields(await read_json(request), SESSION_FIELDS)
    data = session_input(f, False)
    if data.state is SessionState.LIVE:
        # Opening has its own rule (the open window) and effects (recording, the room).
        raise Conflict(
            "Phiên được mở bằng thao tác mở phiên, không qua sửa phiên.",
            {"state": "dùng POST /api/v1/sessions/{id}/open"},
        )
    p = principal(request)
    now, cfg = request.app[CLOCK](), scheduling_config(request.app)
    async with transaction(request.app[DB]) as db:
        check = planning.plan_check(data, now, cfg, created=False)
        s = await receptions.update_session(db, p, path_id(request), data, check, f.errors)
        await planning.on_saved(db, s, data, now, cfg, created=False)
        changed = sorted(k for k in SESSION_FIELDS if getattr(data, k) is not None)
        await audit.record(
            db,
            audit_context(request),
            "session.update",
            "session",
            s.id,
            s.unit_id,
            {"fields": changed},
        )
        body = await _session_json(request, db, s)
    return ok(body)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/sessions", list_sessions)
    r.add_post("/api/v1/sessions", create_session)
    r.add_get("/api/v1/sessions/{id:[0-9]+}", get_session)
    r.add_patch("/api/v1/sessions/{id:[0-9]+}", update_session)
