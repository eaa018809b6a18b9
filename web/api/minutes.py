"""Minutes (biên bản) and conclusion notices: versions of a session's minutes, one version
as JSON, PDF or DOCX (`?format=pdf|docx`), saving a draft, finalizing (the chair)."""

from __future__ import annotations

from datetime import date

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import audit
from sessions.access import Perm
from sessions.db import transaction
from sessions.errors import Invalid
from sessions.minutes import store
from sessions.models import Minutes, ReceptionSession
from web.auth import audit_context
from web.http import ok, principal, requires
from web.keys import CLOCK, CONFIG, DB
from web.minutes import detail_json, format_of, minutes_view, notice_of, paper_file, version_json
from web.validation import Fields, parse_date, path_id, read_json

PARTS = frozenset(store.TEXT_PARTS) | {"directions"}
CREATE_FIELDS = PARTS | {"agenda_item_id"}
SAVE_FIELDS = PARTS | {"revision"}
REVEAL_FIELDS = frozenset({"reason"})


def _direction(f: Fields) -> store.DirectionInput:
    unit_id = f.integer("unit_id", required=True)
    text = f.text("text", required=True, max_len=store.LIMITS["direction"])
    raw = f.text("due_on", max_len=10, allow_empty=True)
    due: date | None = None
    if raw:
        try:
            due = parse_date(raw.strip(), "due_on")
        except Invalid as exc:
            f.errors.update(exc.fields)
    return store.DirectionInput(unit_id or 0, text or "", due)


def _input(f: Fields) -> store.MinutesInput:
    texts = {
        part: f.text(part, max_len=store.LIMITS[part], allow_empty=True) or ""
        for part in store.TEXT_PARTS
    }
    directions = f.items("directions", _direction, max_items=store.MAX_DIRECTIONS) or ()
    return store.MinutesInput(directions=directions, **texts)


async def record(
    db: AsyncSession, request: web.Request, action: str, m: Minutes, **detail: object
) -> None:
    s = await db.get(ReceptionSession, m.session_id)
    await audit.record(
        db,
        audit_context(request),
        action,
        "minutes",
        m.id,
        s.unit_id if s else None,
        {"session_id": m.session_id, "version": m.version, **detail},
    )


@requires(Perm.CASES_READ)
async def list_minutes(request: web.Request) -> web.StreamResponse:
    async with request.app[DB]() as db:
        versions = await store.list_versions(db, principal(request), path_id(request))
    later = store.superseded(versions)
    tz = request.app[CONFIG].tz
    return ok({"items": [version_json(m, later.get(m.id), tz) for m in versions]})


@requires(Perm.CASES_WRITE)
async def create_minutes(request: web.Request) -> web.StreamResponse:
    f = Fields(await read_json(request), set(CREATE_FIELDS))
    item_id = f.integer("agenda_item_id")
    data = _input(f) if PARTS & set(f.data) else None
    f.done()
    async with transaction(request.app[DB]) as db:
        m = await store.start_version(db, principal(request), path_id(request), item_id, data)
        await record(db, request, "minutes.create", m, supersedes_id=m.supersedes_id)
    view = await minutes_view(request, m.id)
    return ok(detail_json(view, request.app[CONFIG].tz), 201)


@requires(Perm.CASES_READ)
async def get_minutes(request: web.Request) -> web.StreamResponse:
    fmt = format_of(request)
    view = await minutes_view(request, path_id(request))
    if fmt is None:
        return ok(detail_json(view, request.app[CONFIG].tz))
    return await paper_file(request, view.paper, fmt)


@requires(Perm.CASES_READ)
async def get_notice(request: web.Request) -> web.StreamResponse:
    fmt = format_of(request) or "pdf"
    view = await minutes_view(request, path_id(request))
    return await paper_file(request, notice_of(request, view), fmt)


@requires(Perm.CASES_READ)
async def reveal_minutes(request: web.Request) -> web.StreamResponse:
    """A cleared account asks to see the protected identities in a version, saying why
    (audited): the JSON, or with `?format=` the file."""
    fmt = format_of(request)
    f = Fields(await read_json(request), set(REVEAL_FIELDS))
    reason = f.text("reason", required=True, max_len=500)
    f.done()
    view = await minutes_view(request, path_id(request), reason)
    if fmt is None:
        return ok(detail_json(view, request.app[CONFIG].tz))
    return await paper_file(request, view.paper, fmt)


@requires(Perm.CASES_WRITE)
async def save_minutes(request: web.Request) -> web.StreamResponse:
    f = Fields(await read_json(request), set(SAVE_FIELDS))
    revision = f.integer("revision")
    data = _input(f)
    f.done()
    async with transaction(request.app[DB]) as db:
        m = await store.save_draft(db, principal(request), path_id(request), revision, data)
        await record(db, request, "minutes.save", m, revision=m.revision)
    view = await minutes_view(request, m.id)
    return ok(detail_json(view, request.app[CONFIG].tz))


@requires(Perm.SESSIONS_RUN)
async def finalize_minutes(request: web.Request) -> web.StreamResponse:
    async with transaction(request.app[DB]) as db:
        m = await store.finalize(db, principal(request), path_id(request), request.app[CLOCK]())
        await record(db, request, "minutes.finalize", m, sha256=m.sha256)
    view = await minutes_view(request, m.id)
    return ok(detail_json(view, request.app[CONFIG].tz))


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/sessions/{id:[0-9]+}/minutes", list_minutes)
    r.add_post("/api/v1/sessions/{id:[0-9]+}/minutes", create_minutes)
    r.add_get("/api/v1/minutes/{id:[0-9]+}", get_minutes)
    r.add_patch("/api/v1/minutes/{id:[0-9]+}", save_minutes)
    r.add_post("/api/v1/minutes/{id:[0-9]+}/finalize", finalize_minutes)
    r.add_post("/api/v1/minutes/{id:[0-9]+}/reveal", reveal_minutes)
    r.add_get("/api/v1/minutes/{id:[0-9]+}/notice", get_notice)
