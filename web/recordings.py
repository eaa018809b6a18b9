"""Recording wired into the app: the recorder of each live session, storage, the API.

The bridge reports a "recording" event (the chair's control, our API, a failed recorder) to
the `EventWriter`, which stores it and tells the `RecordingService` here. The service has two
owned tasks: the control loop starts and stops a `SessionRecorder` per session (one owner, in
order), and the store worker uploads the finished files, keeps their records, writes the run's
manifest and attaches the files to the cases heard — off the signaling path, one job at a
time. At start, partial files a crash left behind are repaired before anything records, and
stored by the worker's first job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bridge import Bridge, BridgeError, RoomTap, TrackInfo
from recording import (
    RecordedFile,
    RecordingConfig,
    RecordingError,
    RecordingFailure,
    SessionRecorder,
    Storage,
    TrackRecorderStats,
    recover_spool,
)
from recording.recovery import RecoveryReport
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
from web.recording_store import RunStore
from web.validation import Fields, path_id, read_json

log = logging.getLogger("tiepdan.recording")
SOURCE_LABELS = {
    "microphone": "Âm thanh (micrô)",
    "camera": "Hình (camera)",
    "screen": "Màn hình chia sẻ",
}


# -- the service ------------------------------------------------------------------------


def _ask_keyframe(room: RoomTap, track: TrackInfo) -> None:
    """A recorder fell behind (or began mid-stream) on a video track: its publisher is asked
    for a key frame, so the recording goes on with a picture a decoder can use."""
    room.request_keyframe(track.track_id)


@dataclass
class Run:
    """One session being recorded, from start to stop."""

    session_id: int
    run_key: str
    recorder: SessionRecorder
    room: RoomTap


@dataclass(frozen=True, slots=True)
class Start:
    session_id: int
    account_id: int | None


@dataclass(frozen=True, slots=True)
class Stop:
    session_id: int
    reason: str | None
    account_id: int | None
    tell_room: bool = False  # also turn the room's flag off (and so tell every participant)


@dataclass(frozen=True, slots=True)
class AutoStart:
    session_id: int
    account_id: int


Command = Start | Stop | AutoStart


@dataclass(frozen=True, slots=True)
class StoreRun:
    session_id: int
    run_key: str
    files: list[RecordedFile]


@dataclass(frozen=True, slots=True)
class Recover:
    report: RecoveryReport = field(default_factory=RecoveryReport)


Job = StoreRun | Recover


class RecordingService:
    """Records live sessions and stores what was recorded; implements `RecordingControl`."""

    def __init__(
        self,
        config: RecordingConfig,
        storage: Storage,
        db: async_sessionmaker[AsyncSession],
        bridge: Bridge,
        *,
        autostart: bool = False,
        shutdown_grace_s: float = 60.0,
        logger: logging.Logger | None = None,
    ) -> None:
        self.config = config
        self.storage = storage
        self.autostart = autostart
        self.shutdown_grace_s = shutdown_grace_s
        self.log = logger or log
        self.store = RunStore(storage, db, self.log)
        self._db = db
        self._bridge = bridge
        self._runs: dict[int, Run] = {}
        self._commands: asyncio.Queue[tuple[Command, asyncio.Future[None] | None]] = asyncio.Queue()
        self._jobs: asyncio.Queue[Job] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle --------------------------------------------------------------------

    def start(self, recovered: RecoveryReport) -> None:
        self._jobs.put_nowait(Recover(recovered))
        self._tasks = [
            asyncio.create_task(self._run_commands(), name="recording-control"),
            asyncio.create_task(self._run_jobs(), name="recording-store"),
        ]

    async def stop(self) -> None:
        """Stop every recording, give the uploads a grace period, then cancel: a store not
        finished resumes at the next start (journaled upload, spool file kept)."""
        for session_id in list(self._runs):
            await self._call(Stop(session_id, "shutdown", None, tell_room=True))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._jobs.join(), self.shutdown_grace_s)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def settled(self) -> None:
        """Wait until every command is applied and every store job done (tests, CLI)."""
        await self._commands.join()
        await self._jobs.join()

    def active(self, session_id: int) -> bool:
        return session_id in self._runs

    def track_stats(self) -> tuple[TrackRecorderStats, ...]:
        """Every track being recorded now, with its recorder's counters (/metrics)."""
        return tuple(t for run in list(self._runs.values()) for t in run.recorder.stats())

    # -- RecordingControl (web/live.py) -------------------------------------------------

    def recording_changed(
        self, session_id: int, active: bool, account_id: int | None, reason: str | None
    ) -> None:
        self._post(
            Start(session_id, account_id) if active else Stop(session_id, reason, account_id)
        )

    def session_opened(self, session_id: int, account_id: int) -> None:
        if self.autostart:
            self._post(AutoStart(session_id, account_id))

    async def session_closing(self, session_id: int) -> None:
        await self._call(Stop(session_id, "session_closed", None, tell_room=True))

    def _post(self, command: Command) -> None:
        self._commands.put_nowait((command, None))

    async def _call(self, command: Command) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._commands.put_nowait((command, future))
        await future

    # -- the control loop -----------------------------------------------------------------

    async def _run_commands(self) -> None:
        while True:
            command, future = await self._commands.get()
            try:
                await _COMMANDS[type(command)](self, command)
            except Exception:
                self.log.exception("recording command %r failed", command)
            finally:
                if future is not None and not future.done():
                    future.set_result(None)
                self._commands.task_done()

    async def _start(self, command: Start) -> None:
        sid = command.session_id
        room = self._bridge.room(room_id(sid))
        if sid in self._runs or room is None or not room.recording:
            return  # already on, or switched off again before we got here
        run_key = f"sessions/{sid}/{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}"
        recorder = SessionRecorder(
            self.config,
            key_prefix=run_key,
            logger=self.log,
            on_failure=partial(self._on_failure, sid),
            on_need_keyframe=partial(_ask_keyframe, room),
        )
        self._runs[sid] = Run(sid, run_key, recorder, room)
        room.add_frame_subscriber(recorder)
        room.request_keyframes()
        await self.store.audit(
            sid, command.account_id, "recording.start", "session", sid, run_key=run_key
        )

    async def _stop(self, command: Stop) -> None:
        sid = command.session_id
        run = self._runs.pop(sid, None)
        room = run.room if run is not None else self._bridge.room(room_id(sid))
        if command.tell_room and room is not None:
            with contextlib.suppress(BridgeError):  # the room closed meanwhile
                await room.set_recording(False, command.reason)
        if run is None:
            return
        run.room.remove_frame_subscriber(run.recorder)
        files = await run.recorder.stop()  # finalizes the files; the uploads come later
        await self.store.audit(
            sid,
            command.account_id,
            "recording.stop",
            "session",
            sid,
            run_key=run.run_key,
            reason=command.reason,
            files=len(files),
        )
        self._jobs.put_nowait(StoreRun(sid, run.run_key, files))

    async def _autostart(self, command: AutoStart) -> None:
        room = self._bridge.open_room(room_id(command.session_id))
        await room.set_recording(True, None, participant_id(command.account_id))

    def _on_failure(self, session_id: int, failure: RecordingFailure) -> None:
        """A track could not be written (disk full): stop the session's recording cleanly
        and tell the room why; what was written is kept."""
        self.log.error(
            "session %d: recording stopped: %s (%s)", session_id, failure.reason, failure.error
        )
        self._post(Stop(session_id, failure.reason, None, tell_room=True))

    # -- the store worker -----------------------------------------------------------------

    async def _run_jobs(self) -> None:
        while True:
            job = await self._jobs.get()
            try:
                if isinstance(job, StoreRun):
                    await self.store.store_run(job.session_id, job.run_key, job.files)
                else:
                    await self.store.recover(job.report)
            except Exception:
                self.log.exception("recording job %r failed", job)
            finally:
                self._jobs.task_done()


_COMMANDS: dict[type, Callable[[RecordingService, Any], Awaitable[None]]] = {
    Start: RecordingService._start,
    Stop: RecordingService._stop,
    AutoStart: RecordingService._autostart,
}


# -- start-up -----------------------------------------------------------------------------

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
        app[LIVE].bridge,
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
