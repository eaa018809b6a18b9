"""The case page's "Bản sao ghi hình cho công dân": a citizen's written request for a copy of
the recording of their own reception, its check and its hand-over (sessions/copies.py).

Every step is a form on the case page for the reception officer, audited; the citizen's
name in the list comes through `sessions.identity` like every other surface."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import audit, copies
from sessions.access import Perm
from sessions.errors import Invalid
from sessions.models import CaseFile, CopyState, RecordingCopy
from web.auth import audit_context
from web.exports import EXPORTS
from web.http import principal, requires
from web.keys import CLOCK, CONFIG
from web.pages.casefiles import case_page
from web.pages.forms import Form, read_form, save
from web.validation import parse_date, path_id


async def _rerender(request: web.Request, form: Form, status: int) -> web.StreamResponse:
    return await case_page(request, path_id(request), status, copy_form=form)


@requires(Perm.CASES_WRITE)
async def copy_request(request: web.Request) -> web.StreamResponse:
    case_id, form = path_id(request), await read_form(request)
    form.target = "copy-request"
    session_id = form.integer("session_id", required=True)
    citizen_id = form.integer("citizen_id", required=True)
    day = None
    raw = form.text("requested_on", required=True, max_len=10)
    if raw:
        try:
            day = parse_date(raw, "requested_on")
        except Invalid as exc:
            form.errors.update(exc.fields)
    ref = form.text("request_ref", max_len=copies.LIMITS["request_ref"]) or ""
    data = copies.CopyRequest(session_id, citizen_id, day, ref)
    today = request.app[CLOCK]().astimezone(request.app[CONFIG].tz).date()

    async def work(db: AsyncSession) -> str:
        row = await copies.request_copy(db, principal(request), case_id, data, today)
        await _audit(db, request, "recording.copy_request", row)
        return f"/cases/{case_id}?copy=requested#copies"

    return await save(request, form, work, lambda f, s: _rerender(request, f, s))


@requires(Perm.CASES_WRITE)
async def copy_check(request: web.Request) -> web.StreamResponse:
    case_id, form = path_id(request), await read_form(request)
    copy_id = int(request.match_info["copy_id"])
    form.target = f"copy-check-{copy_id}"
    note = form.text("check_note", max_len=copies.LIMITS["check_note"]) or ""
    decision = form.value("decision")
    if decision not in ("approve", "refuse"):
        form.errors["decision"] = "hãy chọn chấp thuận hoặc không giao"
    queued: list[int] = []

    async def work(db: AsyncSession) -> str:
        row, hazards = await copies.check_copy(
            db,
            principal(request),
            case_id,
            copy_id,
            decision == "approve",
            form.checkbox("watched"),
            note,
            request.app[CLOCK](),
        )
        refused = row.state is CopyState.REFUSED
        action = "recording.copy_refused" if refused else "recording.copy_approved"
        await _audit(db, request, action, row, hazards=len(hazards))
        if row.export_id is not None:
            queued.append(row.export_id)
        return f"/cases/{case_id}?copy={'refused' if refused else 'approved'}#copies"

    answer = await save(request, form, work, lambda f, s: _rerender(request, f, s))
    for export_id in queued:  # committed: the export worker may read it now
        request.app[EXPORTS].submit(export_id)
    return answer


@requires(Perm.CASES_WRITE)
async def copy_handover(request: web.Request) -> web.StreamResponse:
    case_id, form = path_id(request), await read_form(request)
    copy_id = int(request.match_info["copy_id"])
    form.target = f"copy-handover-{copy_id}"
    recipient = form.text("recipient_name", required=True, max_len=copies.LIMITS["recipient_name"])
    medium = form.text("medium", required=True, max_len=copies.LIMITS["medium"])

    async def work(db: AsyncSession) -> str:
        row = await copies.hand_over(
            db,
            principal(request),
            case_id,
            copy_id,
            recipient or "",
            medium or "",
            request.app[CLOCK](),
        )
        await _audit(db, request, "recording.copy_handover", row, medium=row.medium)
        return f"/cases/{case_id}?copy=handed#copies"

    return await save(request, form, work, lambda f, s: _rerender(request, f, s))


async def _audit(
    db: AsyncSession, request: web.Request, action: str, row: RecordingCopy, **detail: Any
) -> None:
    case = await db.get(CaseFile, row.case_id)
    case_unit = case.handling_unit_id if case is not None else None
    await audit.record(
        db,
        audit_context(request),
        action,
        "recording_copy",
        row.id,
        case_unit,
        {"case_id": row.case_id, "session_id": row.session_id, **detail},
    )


def setup(app: web.Application) -> None:
    app.router.add_post("/cases/{id:[0-9]+}/copies", copy_request)
    app.router.add_post("/cases/{id:[0-9]+}/copies/{copy_id:[0-9]+}/check", copy_check)
    app.router.add_post("/cases/{id:[0-9]+}/copies/{copy_id:[0-9]+}/handover", copy_handover)
