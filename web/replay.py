"""Replay, server side: the recordings list, each track's media with range requests, the
session's time line, and the archive search API.

`GET /api/v1/recordings/{id}/media` serves a file of a local store (`file://`) with range
requests (web/ranges.py) and sends a browser to a short-lived presigned URL of an S3 store
(307; `TIEPDAN_PRESIGN_SECONDS`), which then answers the ranges itself: the page never
holds the store's credentials. Who may replay is decided by `sessions.identity` (through
`recordings.may_replay`); another unit's session is not found (404).

Each replay start and download is audited (`recording.replay`, `recording.download`, with
`t`, the position in seconds the player starts from, when given): a request without a
range, from byte 0, or with `t`. A player's later range requests (seeking) are audited
once per account, file and `REPLAY_AUDIT_WINDOW`, so fetching a file piece by piece is
never unaudited.
"""

from __future__ import annotations

import asyncio
import math
import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import archive, audit, cases, receptions, timeline
from sessions import recordings as recs
from sessions.access import Perm, Principal
from sessions.archive import ArchiveQuery
from sessions.db import transaction
from sessions.errors import Conflict, Forbidden, Invalid
from sessions.models import (
    AuditRecord,
    CaseKind,
    ReceptionSession,
    RecordingAttachment,
    RecordingRecord,
    utcnow,
)
from sessions.paging import PageRequest, paginate
from sessions.recordings import STORED_STATES
from web import inbound, serialize
from web.auth import audit_context
from web.http import ok, principal, requires
from web.keys import CONFIG, DB
from web.ranges import Unsatisfiable, etag_of, serve_file, unsatisfiable, wanted_range
from web.recordings import RECORDINGS, record_json, stream_stored
from web.validation import (
    ascii_int,
    page_request,
    parse_date,
    path_id,
    query_id,
    query_text,
)

REPLAY_AUDIT_WINDOW = timedelta(minutes=30)
_SECONDS = re.compile(r"[0-9]{1,7}(\.[0-9]{1,3})?")
MAX_POSITION_S = 7 * 24 * 3600
MEDIA_TYPES = {".webm": "video/webm", ".mkv": "video/x-matroska"}
RESTRICTED_MESSAGE = (
    "Phiên có vụ việc tố cáo: chỉ tài khoản được cấp quyền cho mọi hồ sơ tố cáo của "
    "phiên mới được xem, tải bản ghi hình."
)


def media_type_of(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    return MEDIA_TYPES.get(name[name.rfind(".") :], "application/octet-stream")


def media_url(recording_id: int) -> str:
    return f"/api/v1/recordings/{recording_id}/media"


# -- the recordings list ----------------------------------------------------------------


@requires(Perm.CASES_READ)
async def recording_list(request: web.Request) -> web.StreamResponse:
    """`?session_id=&case_id=&page=&per_page=`: track files of the sessions the caller sees;
    with `case_id`, those attached to that case (the time it was heard)."""
    p = principal(request)
    req = page_request(request)
    session_id = query_id(request, "session_id")
    case_id = query_id(request, "case_id")
    async with request.app[DB]() as db:
        seen = select(ReceptionSession.id).where(receptions.visible(p))
        stmt = (
            select(RecordingRecord)
            .where(RecordingRecord.session_id.in_(seen))
            .order_by(RecordingRecord.started_at, RecordingRecord.id)
        )
        if session_id is not None:
            stmt = stmt.where(RecordingRecord.session_id == session_id)
        if case_id is not None:
            await cases.get_case_row(db, p, case_id)  # 404 when not the caller's to see
            attached = select(RecordingAttachment.recording_id).where(
                RecordingAttachment.case_id == case_id
            )
            stmt = stmt.where(RecordingRecord.id.in_(attached))
        page = await paginate(db, stmt, req)
        replay: dict[int, bool] = {}
        for r in page.items:
            if r.session_id not in replay:
                replay[r.session_id] = (await recs.may_replay(db, p, r.session_id))[0]
    items = [{**record_json(r, request), "may_replay": replay[r.session_id]} for r in page.items]
    return ok(serialize.page(page, items))


# -- media --------------------------------------------------------------------------------


def _position(request: web.Request) -> float | None:
    raw = query_text(request, "t", 32)
    if not raw:
        return None
    value = float(raw) if _SECONDS.fullmatch(raw) else math.nan
    if not 0 <= value <= MAX_POSITION_S:
        raise Invalid(
            "Tham số không hợp lệ.", {"t": f"số giây từ 0 đến {MAX_POSITION_S}, ví dụ 125.5"}
        )
    return round(value, 3)


def _range_start(request: web.Request) -> int | None:
    """Where the range asked for starts (None: no range, or one we cannot read)."""
    raw = inbound.header(request, "Range", 200) or ""
    unit, _, spec = raw.partition("=")
    first = spec.split(",", 1)[0].split("-", 1)[0].strip()
    if unit.strip().lower() != "bytes":
        return None
    return ascii_int(first, 0, 2**62) if first else 1  # a suffix range is not the start


async def _audited_lately(
    db: AsyncSession, p: Principal, row: RecordingRecord, now: datetime
) -> bool:
    found = await db.scalar(
        select(AuditRecord.id)
        .where(
            AuditRecord.actor_id == p.account_id,
            AuditRecord.action.in_(("recording.replay", "recording.download")),
            AuditRecord.object_type == "recording",
            AuditRecord.object_id == str(row.id),
            AuditRecord.at >= now - REPLAY_AUDIT_WINDOW,
        )
        .limit(1)
    )
    return found is not None


@requires(Perm.CASES_READ)
async def media(request: web.Request) -> web.StreamResponse:
    """One track file for the player (`?t=` seconds: where it starts; `?download=1`: as an
    attachment). Range requests on a local store; a presigned URL (307) on S3. A refusal
    is audited; bad input (a malformed or unsatisfiable range) is answered, not audited."""
    return await serve_recording(request, request.query.get("download") == "1")


@requires(Perm.CASES_READ)
async def download(request: web.Request) -> web.StreamResponse:
    """The older address of the same file (`?inline=1` to replay), answered the same way."""
    return await serve_recording(request, request.query.get("inline") != "1")


async def serve_recording(request: web.Request, download: bool) -> web.StreamResponse:
    p = principal(request)
    recording_id = path_id(request)
    t = _position(request)
    action = "recording.download" if download else "recording.replay"
    now = utcnow()  # the audit log's own clock
    async with transaction(request.app[DB]) as db:
        row = await recs.get_record(db, recording_id)
        s = await receptions.get_session(db, p, row.session_id)
        allowed, protected = await recs.may_replay(db, p, row.session_id)
        local: tuple[Path, int] | None = None
        if allowed:
            if row.state not in STORED_STATES:
                raise Conflict("Bản ghi chưa được lưu vào kho.", {"state": row.state.value})
            local = await _local_file(request, row)
            if local is not None:
                try:
                    wanted_range(request, local[1], etag_of(row.sha256))
                except Unsatisfiable:
                    return unsatisfiable(local[1], etag_of(row.sha256))
        start = _range_start(request)
        starts = t is not None or download or start in (None, 0)
        if not allowed or starts or not await _audited_lately(db, p, row, now):
            detail: dict[str, Any] = {"session_id": s.id, "key": row.storage_key, "t": t}
            if inbound.has(request, "Range"):
                detail["range"] = inbound.header(request, "Range", 200) or "(không đọc được)"
            detail["protected_cases"] = protected
            await audit.record(
                db,
                audit_context(request),
                action if allowed else f"{action}.denied",
                "recording",
                row.id,
                s.unit_id,
                detail,
            )
    if not allowed:
        raise Forbidden(
            RESTRICTED_MESSAGE, {"recording": "bản ghi có thông tin người tố cáo được bảo mật"}
        )
    return await _serve(request, row, download, local)


async def _local_file(request: web.Request, row: RecordingRecord) -> tuple[Path, int] | None:
    """The file and its size when the store is local; None for another store."""
    path = request.app[RECORDINGS].storage.local_path(row.storage_key)
    if path is None:
        return None
    try:
        size = (await asyncio.to_thread(path.stat)).st_size
    except OSError:
        raise Conflict(
            "Kho lưu trữ không đọc được bản ghi.",
            {"storage_key": "không đọc được trong kho lưu trữ"},
        ) from None
    return path, size


async def _serve(
    request: web.Request, row: RecordingRecord, download: bool, local: tuple[Path, int] | None
) -> web.StreamResponse:
    storage = request.app[RECORDINGS].storage
    name = row.storage_key.rsplit("/", 1)[-1]
    disposition = f'{"attachment" if download else "inline"}; filename="{name}"'
    media_type = media_type_of(row.storage_key)
    if local is not None:
        headers = {
            "Content-Type": media_type,
            "Content-Disposition": disposition,
            "X-Content-SHA256": row.sha256 or "",
            "Cache-Control": "private, no-store",
        }
        return await serve_file(request, local[0], local[1], etag_of(row.sha256), headers)
    seconds = request.app[CONFIG].presign_seconds
    url = storage.presigned_get(
        row.storage_key, seconds, media_type=media_type, disposition=disposition
    )
    if url is not None:
        return web.Response(
            status=307, headers={"Location": url, "Cache-Control": "private, no-store"}
        )
    return await stream_stored(
        request,
        storage,
        row.storage_key,
        media_type,
        row.size_bytes,
        row.sha256,
        not download,
        "Kho lưu trữ không đọc được bản ghi.",
    )


# -- the time line ------------------------------------------------------------------------


def timeline_json(tl: timeline.Timeline, request: web.Request) -> dict[str, Any]:
    tz = request.app[CONFIG].tz
    return {
        "session_id": tl.session_id,
        "started_at": serialize.iso(tl.started_at, tz),
        "ended_at": serialize.iso(tl.ended_at, tz),
        "duration_s": tl.duration_s,
        "may_replay": tl.may_replay,
        "tracks": [
            {
                "recording_id": t.record.id,
                "endpoint_id": t.record.endpoint_id,
                "endpoint_name": t.endpoint_name,
                "kind": t.record.track_kind,
                "source": t.record.track_source,
                "offset_s": t.offset_s,
                "duration_s": t.duration_s,
                "media_url": media_url(t.record.id) if t.playable else None,
                "state": t.record.state.value,
                "restricted": not tl.may_replay,
            }
            for t in tl.tracks
        ],
        "floor": [
            {
                "t_s": f.t_s,
                "participant_id": f.participant_id,
                "endpoint_id": f.endpoint_id,
                "endpoint_name": f.endpoint_name,
            }
            for f in tl.floor
        ],
        "chapters": [
            {
                "agenda_item_id": c.agenda_item_id,
                "case_id": c.case_id,
                "case_code": c.case_code,
                "title": c.title,
                "position": c.position,
                "start_s": c.start_s,
                "end_s": c.end_s,
                "restricted": c.restricted,
            }
            for c in tl.chapters
        ],
    }


@requires(Perm.CASES_READ)
async def session_timeline(request: web.Request) -> web.StreamResponse:
    p = principal(request)
    async with request.app[DB]() as db:
        s = await receptions.get_session(db, p, path_id(request))
        tl = await timeline.build(db, p, s)
    return ok(timeline_json(tl, request))


# -- archive search -----------------------------------------------------------------------

ARCHIVE_FIELDS = (
    "from",
    "to",
    "unit_id",
    "endpoint_id",
    "chair_id",
    "case_code",
    "case_kind",
    "citizen",
)


def read_archive_query(request: web.Request) -> tuple[ArchiveQuery, PageRequest]:
    """The archive's filters from the query string; every problem at once (Invalid, by
    field). `from`/`to` are local dates (both included)."""
    errors: dict[str, str] = {}
    tz = request.app[CONFIG].tz

    def guard(name: str, read: Any) -> Any:
        try:
            return read()
        except Invalid as exc:
            errors.update(exc.fields or {name: exc.message})
            return None

    req = guard("page", lambda: page_request(request)) or PageRequest()
    day_from = guard("from", lambda: _date(request, "from"))
    day_to = guard("to", lambda: _date(request, "to"))
    if day_from and day_to and day_to < day_from:
        errors["to"] = "phải từ ngày bắt đầu trở đi"
    ids = {
        n: guard(n, lambda n=n: query_id(request, n))
        for n in ("unit_id", "endpoint_id", "chair_id")
    }
    code = guard("case_code", lambda: query_text(request, "case_code", 40)) or ""
    citizen = guard("citizen", lambda: query_text(request, "citizen", 200)) or ""
    kind = None
    raw_kind = request.query.get("case_kind", "")
    if raw_kind:
        try:
            kind = CaseKind(raw_kind)
        except ValueError:
            errors["case_kind"] = "phải là một trong: " + ", ".join(k.value for k in CaseKind)
    if errors:
        raise Invalid("Điều kiện tìm kiếm chưa hợp lệ.", errors)
    query = ArchiveQuery(
        starts_from=_local_midnight(day_from, tz) if day_from else None,
        starts_before=_local_midnight(day_to + timedelta(days=1), tz) if day_to else None,
        unit_id=ids["unit_id"],
        endpoint_id=ids["endpoint_id"],
        chair_id=ids["chair_id"],
        case_code=code,
        case_kind=kind,
        citizen=citizen,
    )
    return query, req


def _date(request: web.Request, name: str) -> Any:
    raw = request.query.get(name, "").strip()
    return parse_date(raw, name) if raw else None


def _local_midnight(day: Any, tz: Any) -> datetime:
    return datetime.combine(day, time(0), tz).astimezone(UTC)


@requires(Perm.CASES_READ)
async def archive_sessions(request: web.Request) -> web.StreamResponse:
    """Ended and archived sessions found by date range, unit, endpoint, chair, case code,
    case kind and a citizen's name (diacritics and case ignored), paged."""
    p = principal(request)
    query, req = read_archive_query(request)
    tz = request.app[CONFIG].tz
    async with request.app[DB]() as db:
        page = await archive.search(db, p, query, req)
        codes = await archive.agenda_codes(db, [s.id for s in page.items])
    items = [
        {
            **serialize.session_summary(s, tz),
            "case_codes": codes.get(s.id, []),
            "archive_url": f"/sessions/{s.id}/archive",
            "timeline_url": f"/api/v1/sessions/{s.id}/timeline",
        }
        for s in page.items
    ]
    return ok(serialize.page(page, items))


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/recordings", recording_list)
    r.add_get("/api/v1/recordings/{id:[0-9]+}/media", media)
    r.add_get("/api/v1/recordings/{id:[0-9]+}/download", download)
    r.add_get("/api/v1/sessions/{id:[0-9]+}/timeline", session_timeline)
    r.add_get("/api/v1/archive/sessions", archive_sessions)
