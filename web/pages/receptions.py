"""Reception sessions: /sessions and /sessions/{id}."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import receptions
from sessions.access import Perm
from sessions.db import transaction
from sessions.models import (
    AgendaItem,
    Attendee,
    CaseFile,
    ReceptionSession,
    RecordingRecord,
    RecordingState,
    SessionState,
)
from web.auth import audit_context
from web.exports import export_views
from web.http import principal, requires
from web.keys import DB
from web.pages import lookup
from web.pages.forms import pager, render
from web.pages.labels import SESSION_STATES
from web.validation import page_request, path_id, query_choice


@requires(Perm.SESSIONS_READ)
async def session_list(request: web.Request) -> web.StreamResponse:
    req = page_request(request)
    state = query_choice(request, "state", SessionState)
    async with request.app[DB]() as db:
        page = await receptions.list_sessions(db, principal(request), req, state)
        chairs = await lookup.account_names(db, (s.chair_id for s in page.items))
    return render(
        "sessions/list.html",
        request,
        {
            "items": page.items,
            "pager": pager(request, page),
            "q": req.q,
            "state": state,
            "states": SESSION_STATES,
            "chairs": chairs,
        },
    )


@dataclass(frozen=True, slots=True)
class AgendaRow:
    item: AgendaItem
    case: CaseFile | None
    endpoint: str
    withheld: bool
    citizens: list[str]


@dataclass(frozen=True, slots=True)
class AttendeeRow:
    name: str
    organization: str
    capacity: str


async def _agenda(db: AsyncSession, request: web.Request, s: ReceptionSession) -> list[AgendaRow]:
    cases = await lookup.cases_by_id(db, (i.case_id for i in s.agenda))
    endpoints = await lookup.endpoint_names(db, (i.endpoint_id for i in s.agenda))
    heard = await receptions.agenda_views(db, audit_context(request), s, "session-page")
    return [
        AgendaRow(
            item,
            cases.get(item.case_id),
            endpoints.get(item.endpoint_id, ""),
            heard[item.id].withheld,
            [c.full_name for c in heard[item.id].citizens],
        )
        for item in s.agenda
    ]


async def _attendees(db: AsyncSession, items: list[Attendee]) -> list[AttendeeRow]:
    names = await lookup.account_names(db, (a.account_id for a in items))
    return [
        AttendeeRow(
            names.get(a.account_id, "") if a.account_id else a.guest_name,
            a.guest_organization,
            a.capacity,
        )
        for a in items
    ]


async def _has_stored_recordings(db: AsyncSession, session_id: int) -> bool:
    """Whether there is anything to export: a recording the store holds, finalized."""
    stored = (RecordingState.STORED, RecordingState.REPAIRED)
    found = await db.scalar(
        select(RecordingRecord.id)
        .where(RecordingRecord.session_id == session_id, RecordingRecord.state.in_(stored))
        .limit(1)
    )
    return found is not None


@requires(Perm.SESSIONS_READ)
async def session_detail(request: web.Request) -> web.StreamResponse:
    p = principal(request)
    async with transaction(request.app[DB]) as db:  # a shown identity is audited
        s = await receptions.get_session(db, p, path_id(request))
        endpoint_ids = [s.central_endpoint_id, *(e.endpoint_id for e in s.endpoints)]
        data = {
            "s": s,
            "chair": (await lookup.account_names(db, [s.chair_id])).get(s.chair_id, ""),
            "unit": (await lookup.unit_names(db, [s.unit_id])).get(s.unit_id, ""),
            "endpoints": await lookup.endpoint_names(db, endpoint_ids),
            "attendees": await _attendees(db, s.attendees),
            "agenda": await _agenda(db, request, s),
            "can_read_cases": p.can(Perm.CASES_READ),
            "can_schedule": p.can(Perm.SESSIONS_WRITE) and s.state in receptions.EDITABLE,
            "exportable": await _has_stored_recordings(db, s.id),
            "exports": await export_views(db, request, session_id=s.id)
            if p.can(Perm.CASES_READ)
            else [],
        }
    return render("sessions/detail.html", request, data)


def setup(app: web.Application) -> None:
    app.router.add_get("/sessions", session_list)
    app.router.add_get("/sessions/{id:[0-9]+}", session_detail)
