"""Reception sessions: /sessions and /sessions/{id}."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling import readiness
from sessions import live, receptions
from sessions import recordings as recs
from sessions.access import Perm, Principal
from sessions.db import transaction
from sessions.errors import Conflict, Forbidden, Invalid
from sessions.models import (
    AgendaItem,
    Attendee,
    CaseFile,
    ReceptionSession,
    RecordingRecord,
    RecordingState,
    Role,
    SessionState,
)
from web.auth import audit_context
from web.exports import export_views
from web.http import principal, redirect, requires
from web.keys import CLOCK, CONFIG, DB
from web.live import move_session
from web.pages import lookup
from web.pages.forms import Form, pager, read_form, render
from web.pages.labels import SESSION_STATES
from web.pages.recorded import track_rows
from web.recording_checks import Verified, verify_session
from web.recordings import RECORDINGS
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


RECORDED = frozenset({SessionState.LIVE, SessionState.ENDED, SessionState.ARCHIVED})


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


async def agenda_rows(
    db: AsyncSession, request: web.Request, s: ReceptionSession
) -> list[AgendaRow]:
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


async def attendee_rows(db: AsyncSession, items: list[Attendee]) -> list[AttendeeRow]:
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


def _may_run(p: Principal, s: ReceptionSession) -> bool:
    """Opening and closing: the chair, or a reception officer (`sessions.live.move_session`)."""
    return p.can(Perm.SESSIONS_RUN) and (
        s.chair_id == p.account_id or Role.RECEPTION_OFFICER in p.roles
    )


async def _readiness(
    db: AsyncSession, request: web.Request, s: ReceptionSession
) -> list[readiness.EndpointReadiness]:
    if s.state not in (SessionState.SCHEDULED, SessionState.LIVE, SessionState.DRAFT):
        return []
    cfg = request.app[CONFIG].scheduling
    return await readiness.for_session(db, principal(request), s.id, request.app[CLOCK](), cfg)


async def _tracks(db: AsyncSession, request: web.Request, s: ReceptionSession) -> dict[str, object]:
    if s.state in (SessionState.DRAFT, SessionState.SCHEDULED, SessionState.CANCELLED):
        return {"tracks": [], "may_replay": False, "verified": None}
    p = principal(request)
    records = await recs.list_records(db, s.id)
    allowed = p.can(Perm.CASES_READ) and (await recs.may_replay(db, p, s.id))[0]
    return {"tracks": await track_rows(db, records), "may_replay": allowed}


async def _verified(request: web.Request, s: ReceptionSession) -> Verified | None:
    """`?verify=1`: every file read again from the store against its manifest."""
    if request.query.get("verify") != "1" or s.state not in RECORDED:
        return None
    return await verify_session(request.app[DB], request.app[RECORDINGS].storage, s.id)


async def session_facts(
    db: AsyncSession, request: web.Request, s: ReceptionSession
) -> dict[str, Any]:
    """What the session page and its archive page both show: chair, unit, endpoints by
    name, attendees and the agenda (names through `sessions.identity`)."""
    endpoint_ids = [s.central_endpoint_id, *(e.endpoint_id for e in s.endpoints)]
    return {
        "chair": (await lookup.account_names(db, [s.chair_id])).get(s.chair_id, ""),
        "unit": (await lookup.unit_names(db, [s.unit_id])).get(s.unit_id, ""),
        "endpoints": await lookup.endpoint_names(db, endpoint_ids),
        "attendees": await attendee_rows(db, s.attendees),
        "agenda": await agenda_rows(db, request, s),
    }


async def _detail_page(request: web.Request, form: Form, status: int) -> web.StreamResponse:
    p = principal(request)
    async with transaction(request.app[DB]) as db:  # a shown identity is audited
        s = await receptions.get_session(db, p, path_id(request))
        opens = live.opens_at(s, request.app[CONFIG].scheduling.open_lead)
        data = {
            "s": s,
            "form": form,
            **await session_facts(db, request, s),
            "can_read_cases": p.can(Perm.CASES_READ),
            "can_schedule": p.can(Perm.SESSIONS_WRITE) and s.state in receptions.EDITABLE,
            "exportable": await _has_stored_recordings(db, s.id),
            "may_run": _may_run(p, s),
            "opens_at": opens,
            "opens_now": request.app[CLOCK]() >= opens,
            "readiness": await _readiness(db, request, s),
            "exports": await export_views(db, request, session_id=s.id)
            if p.can(Perm.CASES_READ)
            else [],
            **await _tracks(db, request, s),
        }
    data["verified"] = await _verified(request, s)
    return render("sessions/detail.html", request, data, status)


@requires(Perm.SESSIONS_READ)
async def session_detail(request: web.Request) -> web.StreamResponse:
    return await _detail_page(request, Form(), 200)


async def _run(request: web.Request, form: Form, target: SessionState) -> web.StreamResponse:
    """Open or close through the same service as the API; a refusal is shown on the page."""
    action = "session.open" if target is SessionState.LIVE else "session.close"
    try:
        s = await move_session(request, target, action)
    except (Conflict, Invalid) as exc:
        form.fail(exc)
        return await _detail_page(request, form, 422)  # as `forms.save` answers a refusal
    except Forbidden as exc:
        form.fail(exc)
        return await _detail_page(request, form, 403)
    return redirect(f"/sessions/{s.id}")


@requires(Perm.SESSIONS_RUN)
async def session_open(request: web.Request) -> web.StreamResponse:
    return await _run(request, await read_form(request), SessionState.LIVE)


@requires(Perm.SESSIONS_RUN)
async def session_close(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    if not form.checkbox("confirm"):
        form.errors["confirm"] = "hãy đánh dấu xác nhận kết thúc phiên"
        form.message = "Phiên chưa kết thúc: hãy xác nhận trước khi kết thúc phiên."
        return await _detail_page(request, form, 422)
    return await _run(request, form, SessionState.ENDED)


def setup(app: web.Application) -> None:
    app.router.add_get("/sessions", session_list)
    app.router.add_get("/sessions/{id:[0-9]+}", session_detail)
    app.router.add_post("/sessions/{id:[0-9]+}/open", session_open)
    app.router.add_post("/sessions/{id:[0-9]+}/close", session_close)
