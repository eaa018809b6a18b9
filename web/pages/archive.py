"""The archive (Kho lưu trữ): /archive searches ended sessions; /sessions/{id}/archive shows
one session as the archive keeps it (agenda, attendees, endpoints, every recording with its
integrity, the minutes, the timed events), checks its recordings' integrity and archives it.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import archive, receptions
from sessions import recordings as recs
from sessions.access import Perm, Principal
from sessions.db import transaction
from sessions.errors import Conflict, DomainError, Invalid
from sessions.live import list_events
from sessions.models import (
    Account,
    AccountRole,
    ReceptionSession,
    RecordingRecord,
    Role,
    SessionEvent,
    Unit,
)
from sessions.units import in_scope
from web.auth import audit_context
from web.http import principal, redirect, requires
from web.keys import DB
from web.pages import lookup
from web.pages.forms import Form, pager, read_form, render
from web.pages.labels import CASE_KINDS, EVENT_KINDS, MINUTES_STATES
from web.pages.receptions import session_facts
from web.pages.recorded import track_rows
from web.recording_checks import verify_session
from web.recordings import RECORDINGS
from web.replay import ARCHIVE_FIELDS, read_archive_query
from web.validation import path_id


async def _chairs(db: AsyncSession, p: Principal) -> list[tuple[int, str]]:
    """Leaders of the caller's units, for the chair filter."""
    rows = await db.execute(
        select(Account.id, Account.full_name)
        .join(AccountRole, AccountRole.account_id == Account.id)
        .where(
            AccountRole.role == Role.LEADER,
            Account.unit_id.in_(select(Unit.id).where(in_scope(p))),
        )
        .order_by(Account.full_name)
    )
    return [(i, n) for i, n in rows]


@requires(Perm.CASES_READ)
async def archive_search(request: web.Request) -> web.StreamResponse:
    p = principal(request)
    form = Form((k, v) for k, v in request.query.items() if k in (*ARCHIVE_FIELDS, "q"))
    status, items, page_nav = 200, [], None
    codes: dict[int, list[str]] = {}
    async with request.app[DB]() as db:
        try:
            query, req = read_archive_query(request)
            page = await archive.search(db, p, query, req)
            items, page_nav = page.items, pager(request, page)
            codes = await archive.agenda_codes(db, [s.id for s in items])
        except DomainError as exc:  # bad filters: shown next to their fields
            form.fail(exc)
            status = 422
        data = {
            "form": form,
            "items": items,
            "pager": page_nav,
            "codes": codes,
            "chairs": await lookup.account_names(db, (s.chair_id for s in items)),
            "units": await lookup.unit_names(db, (s.unit_id for s in items)),
            "unit_choices": await lookup.unit_choices(db, p),
            "endpoint_choices": await lookup.endpoint_choices(db, p),
            "chair_choices": await _chairs(db, p),
            "kind_choices": [(k.value, v) for k, v in CASE_KINDS.items()],
        }
    return render("archive/search.html", request, data, status)


@dataclass(frozen=True, slots=True)
class EventRow:
    event: SessionEvent
    kind: str
    who: str
    endpoint: str
    what: str


async def _events(db: AsyncSession, s: ReceptionSession) -> list[EventRow]:
    events = await list_events(db, s.id)
    accounts = await lookup.account_names(db, (e.account_id for e in events))
    endpoints = await lookup.endpoint_names(db, (e.endpoint_id for e in events))
    case_ids = {e.data.get("case_id") for e in events if e.kind == "agenda"}
    cases = await lookup.cases_by_id(db, (c for c in case_ids if isinstance(c, int)))
    out = []
    for e in events:
        what = ""
        data = e.data or {}
        if e.kind == "agenda" and data.get("moved"):
            case = cases.get(data.get("case_id") or 0)
            what = f"Hồ sơ {case.code}" if case is not None else ""
        elif e.kind == "recording":
            what = "bật" if data.get("active") else "tắt"
        elif e.kind == "floor" and not e.participant_id:
            what = "thu hồi quyền phát biểu"
        out.append(
            EventRow(
                e,
                EVENT_KINDS.get(e.kind, e.kind),
                accounts.get(e.account_id, "") if e.account_id else "",
                endpoints.get(e.endpoint_id, "") if e.endpoint_id else "",
                what,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class CheckCell:
    text: str
    css: str


def _check_cell(check: archive.Check | None, r: RecordingRecord) -> CheckCell:
    if check is None:
        return CheckCell("Chưa kiểm tra", "off")
    result = check.file_ok(r)
    if result is None:
        return CheckCell("Thay đổi sau lần kiểm tra gần nhất", "off")
    return CheckCell("Đạt" if result else "Sai lệch", "ok" if result else "error")


async def _archive_page(request: web.Request, form: Form, status: int) -> web.StreamResponse:
    p = principal(request)
    async with transaction(request.app[DB]) as db:  # a shown identity is audited
        s = await receptions.get_session(db, p, path_id(request))
        records = await recs.list_records(db, s.id)
        check = await archive.last_check(db, s.id)
        allowed = (await recs.may_replay(db, p, s.id))[0]
        minutes = await archive.minutes_of(db, s.id)
        data = {
            "s": s,
            "form": form,
            **await session_facts(db, request, s),
            "tracks": list(
                zip(
                    await track_rows(db, records),
                    [_check_cell(check, r) for r in records],
                    strict=True,
                )
            ),
            "check": check,
            "may_replay": allowed,
            "minutes": minutes,
            "minutes_states": MINUTES_STATES,
            "events": await _events(db, s),
            "archivable": await archive.archivable(db, s),
            "may_archive": p.can(Perm.ARCHIVE_WRITE),
        }
    return render("archive/session.html", request, data, status)


@requires(Perm.CASES_READ)
async def archive_page(request: web.Request) -> web.StreamResponse:
    return await _archive_page(request, Form(), 200)


@requires(Perm.ARCHIVE_WRITE)
async def archive_verify(request: web.Request) -> web.StreamResponse:
    """Read every file of the session again from the store against its manifests and the
    database ("Kiểm tra toàn vẹn"), and keep the result."""
    p = principal(request)
    form = await read_form(request)
    session_id = path_id(request)
    async with request.app[DB]() as db:
        await receptions.get_session(db, p, session_id)
    if form.value("files") != "all":
        form.errors["files"] = "thiếu phạm vi kiểm tra"
        form.message = "Chưa kiểm tra: hãy bấm nút “Kiểm tra toàn vẹn” trên trang."
        return await _archive_page(request, form, 422)
    result = await verify_session(request.app[DB], request.app[RECORDINGS].storage, session_id)
    async with transaction(request.app[DB]) as db:
        s = await receptions.get_session(db, p, session_id)
        await archive.record_check(
            db, audit_context(request), s, result.ok, result.files, result.lines
        )
    return redirect(f"/sessions/{session_id}/archive?checked=1")


@requires(Perm.ARCHIVE_WRITE)
async def archive_submit(request: web.Request) -> web.StreamResponse:
    """ "Lưu trữ phiên": ended → archived; a refusal says every reason on the page."""
    form = await read_form(request)
    if not form.checkbox("confirm"):
        form.errors["confirm"] = "hãy đánh dấu xác nhận lưu trữ phiên"
        form.message = "Phiên chưa được lưu trữ: hãy xác nhận trước."
        return await _archive_page(request, form, 422)
    try:
        async with transaction(request.app[DB]) as db:
            s = await archive.archive_session(db, audit_context(request), path_id(request))
    except (Conflict, Invalid) as exc:
        form.fail(exc)
        return await _archive_page(request, form, 422)
    return redirect(f"/sessions/{s.id}/archive?archived=1")


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/archive", archive_search)
    r.add_get("/sessions/{id:[0-9]+}/archive", archive_page)
    r.add_post("/sessions/{id:[0-9]+}/archive", archive_submit)
    r.add_post("/sessions/{id:[0-9]+}/archive/verify", archive_verify)
