"""Recording wired into the app: the recording service's composition and its HTTP API.

The service itself (recording/service/: the recorder of each live session, storing what it
recorded, the manifests, recovery at start) knows neither aiohttp nor the bridge: it is given
the storage, the database and `BridgeRooms`, the sessions' rooms on the bridge. The bridge
reports a "recording" event (the chair's control, our API, a failed recorder) to the
`EventWriter` (web/live.py), which stores it and tells the service.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bridge import Bridge, BridgeError, RoomTap
from recording import RecordingError, Storage, recover_spool
from recording.service import RecordingService
from sessions import cases, receptions
from sessions import recordings as recs
from sessions.access import Perm, Principal
from sessions.errors import Conflict, Forbidden
from sessions.models import (
    ReceptionSession,
    RecordingRecord,
    Role,
    SessionState,
)
from web.http import ok, principal, requires
from web.keys import CONFIG, DB
from web.live import LIVE, participant_id, room_id
from web.recording_checks import open_checked_storage, verify_session
from web.validation import Fields, path_id, read_json

log = logging.getLogger("tiepdan.recording")
SOURCE_LABELS = {
    "microphone": "Âm thanh (micrô)",
    "camera": "Hình (camera)",
    "screen": "Màn hình chia sẻ",
}


# -- start-up -----------------------------------------------------------------------------


class BridgeRooms:
    """The recording service's `SessionRooms`: a session's room on the bridge (web/live.py
    names rooms and participants)."""

    def __init__(self, bridge: Bridge) -> None:
        self._bridge = bridge

    def room(self, session_id: int) -> RoomTap | None:
        return self._bridge.room(room_id(session_id))

    def open_room(self, session_id: int) -> RoomTap:
        return self._bridge.open_room(room_id(session_id))

    def participant_id(self, account_id: int) -> str:
        return participant_id(account_id)


# -- the app's service -----------------------------------------------------------------------------

RECORDINGS = web.AppKey("recordings", RecordingService)


STORAGE = web.AppKey("storage", Storage)


async def storage_ctx(app: web.Application) -> AsyncIterator[None]:
    """First of all: a malformed or unreachable store stops the start, naming the variable,
    before anything else is opened."""
    app[STORAGE] = await open_checked_storage(app[CONFIG].recording)
    yield


async def recording_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    # Repair what a crash left before anything records (a live file must never be "repaired");
    # storing it is the store worker's first job.
    report = await recover_spool(config.recording, None, logger=log)
    service = RecordingService(
        config.recording,
        app[STORAGE],
        app[DB],
        BridgeRooms(app[LIVE].bridge),
        autostart=config.recording_autostart,
    )
    app[RECORDINGS] = service
    app[LIVE].events.recording = service
    service.start(report)
    yield
    app[LIVE].events.recording = None
    await service.stop()


# -- the API ------------------------------------------------------------------------------


def _may_run(p: Principal, s: ReceptionSession) -> bool:
    return s.chair_id == p.account_id or Role.RECEPTION_OFFICER in p.roles


@requires(Perm.SESSIONS_RUN)
async def set_recording(request: web.Request) -> web.StreamResponse:
    """Start or stop recording a live session: its chair or a reception officer."""
    p = principal(request)
    session_id = path_id(request)
    fields = Fields(await read_json(request), {"active"})
    active = fields.boolean("active", required=True)
    fields.done()
    async with request.app[DB]() as db:
        s = await receptions.get_session(db, p, session_id)
    if not _may_run(p, s):
        raise Forbidden("Chỉ người chủ trì hoặc cán bộ tiếp công dân bật, tắt ghi hình.")
    if s.state is not SessionState.LIVE:
        raise Conflict(
            "Phiên tiếp công dân chưa bắt đầu hoặc đã kết thúc: không thể ghi hình.",
            {"state": s.state.value},
        )
    room = request.app[LIVE].bridge.open_room(room_id(session_id))
    try:
        await room.set_recording(bool(active), None, participant_id(p.account_id))
    except BridgeError:
        raise Conflict("Phòng họp trực tuyến của phiên đã đóng.", {"state": "closed"}) from None
    return ok({"session_id": session_id, "active": room.recording})


def _time(value: datetime | None, request: web.Request) -> str | None:
    return None if value is None else value.astimezone(request.app[CONFIG].tz).isoformat()


def _span_label(start: datetime, end: datetime, request: web.Request) -> str:
    tz = request.app[CONFIG].tz
    a, b = start.astimezone(tz), end.astimezone(tz)
    return f"{a:%H:%M:%S}–{b:%H:%M:%S} ngày {a:%d/%m/%Y}"


def record_json(r: RecordingRecord, request: web.Request) -> dict[str, Any]:
    return {
        "id": r.id,
        "session_id": r.session_id,
        "storage_key": r.storage_key,
        "state": r.state.value,
        "failure_reason": r.failure_reason,
        "track_kind": r.track_kind,
        "track_source": r.track_source,
        "track_id": r.track_id,
        "participant_id": r.participant_id,
        "endpoint_id": r.endpoint_id,
        "codec": r.codec,
        "size_bytes": r.size_bytes,
        "sha256": r.sha256,
        "duration_ms": r.duration_ms,
        "started_at": _time(r.started_at, request),
        "manifest_id": r.manifest_id,
        "download_url": f"/api/v1/recordings/{r.id}/download",
        "media_url": f"/api/v1/recordings/{r.id}/media",
    }


@requires(Perm.SESSIONS_READ)
async def session_recordings(request: web.Request) -> web.StreamResponse:
    """The session's track files, manifests (with the hash the database keeps) and, with
    `?verify=1`, the result of re-reading every file from the store."""
    p = principal(request)
    session_id = path_id(request)
    async with request.app[DB]() as db:
        await receptions.get_session(db, p, session_id)
        records = await recs.list_records(db, session_id)
        manifests = await recs.list_manifests(db, session_id)
        allowed, protected = await recs.may_replay(db, p, session_id)
    verify: dict[str, Any] | None = None
    if request.query.get("verify") == "1":
        service = request.app[RECORDINGS]
        result = await verify_session(request.app[DB], service.storage, session_id)
        verify = {"ok": result.ok, "files": result.files, "lines": result.lines}
    return ok(
        {
            "session_id": session_id,
            "recording": request.app[RECORDINGS].active(session_id),
            "restricted": bool(protected),
            "may_replay": allowed,
            "items": [record_json(r, request) for r in records],
            "manifests": [
                {
                    "id": m.id,
                    "run_key": m.run_key,
                    "storage_key": m.storage_key,
                    "manifest_hash": m.manifest_hash,
                    "sha256": m.sha256,
                    "file_count": m.file_count,
                    "created_at": _time(m.created_at, request),
                }
                for m in manifests
            ],
            "verify": verify,
        }
    )


async def stream_stored(
    request: web.Request,
    storage: Storage,
    key: str,
    media_type: str,
    size: int | None,
    sha256: str | None,
    inline: bool,
    unreadable: str,
) -> web.StreamResponse:
    """Stream an object from the store, its hash in a header; a store that cannot be read
    is a 409 with `unreadable` (Vietnamese) before anything is sent."""
    chunks = storage.backend.read_chunks(key)
    try:
        first = await asyncio.to_thread(next, chunks, b"")
    except (OSError, RecordingError) as exc:
        log.error("%s unreadable: %s", key, exc)  # the detail (a path on this server): log only
        raise Conflict(unreadable, {"storage_key": "không đọc được trong kho lưu trữ"}) from None
    name = key.rsplit("/", 1)[-1]
    response = web.StreamResponse(
        headers={
            "Content-Type": media_type,
            "Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{name}"',
            "X-Content-SHA256": sha256 or "",
            "Cache-Control": "no-store",
        }
    )
    if size is not None:
        response.content_length = size
    await response.prepare(request)
    chunk = first
    try:
        while chunk:
            await response.write(chunk)
            chunk = await asyncio.to_thread(next, chunks, b"")
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            await asyncio.to_thread(close)
    await response.write_eof()
    return response


async def case_attachment_views(
    db: AsyncSession, p: Principal, case_id: int, request: web.Request
) -> list[dict[str, Any]]:
    """The recordings attached to a case, with the time range heard and the file's hash."""
    out: list[dict[str, Any]] = []
    replay: dict[int, bool] = {}
    for a, r in await recs.case_attachments(db, case_id):
        if a.session_id not in replay:
            replay[a.session_id] = (await recs.may_replay(db, p, a.session_id))[0]
        out.append(
            {
                "id": a.id,
                "session_id": a.session_id,
                "agenda_item_id": a.agenda_item_id,
                "position": a.position,
                "heard_from": _time(a.heard_from, request),
                "heard_to": _time(a.heard_to, request),
                "heard_label": _span_label(a.heard_from, a.heard_to, request),
                "source_label": SOURCE_LABELS.get(r.track_source, r.track_source),
                "offset_ms": a.offset_ms,
                "length_ms": a.length_ms,
                "sha256": a.sha256,
                "recording": record_json(r, request),
                "may_replay": replay[a.session_id],
            }
        )
    return out


@requires(Perm.CASES_READ)
async def case_recordings(request: web.Request) -> web.StreamResponse:
    p = principal(request)
    async with request.app[DB]() as db:
        case = await cases.get_case_row(db, p, path_id(request))
        items = await case_attachment_views(db, p, case.id, request)
    return ok({"case_id": case.id, "items": items})


def setup(app: web.Application) -> None:
    """After `web.live.setup`: the service needs the bridge, and stops before it."""
    app.cleanup_ctx.append(recording_ctx)
    r = app.router
    r.add_post("/api/v1/sessions/{id:[0-9]+}/recording", set_recording)
    r.add_get("/api/v1/sessions/{id:[0-9]+}/recordings", session_recordings)
    r.add_get("/api/v1/cases/{id:[0-9]+}/recordings", case_recordings)
