"""Composite export wired into the app: jobs, their records, the API.

A request makes an `ExportRecord` (queued) and an owned task that, one job at a time (the
`ExportConfig.max_concurrent` limit, niced ffmpeg: never starving a live session), reads the
session's stored track files into a work directory (or uses the spool copies still there),
renders them through `recording.export.ExportQueue` following the recorded floor changes,
stores the MP4 (hashed) and records it. Job state lives in the database: after a restart the
API still answers, and a job the stop cut short is marked failed with the reason (not
re-queued; see `sessions.exports.mark_interrupted`). Downloads are restricted like the track
files' and every access is audited.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bridge import TrackKind, TrackSource
from recording import RecordingError, Storage
from recording.errors import IntegrityError
from recording.export import (
    ExportConfig,
    ExportError,
    ExportQueue,
    ExportSpec,
    ExportTrack,
    FloorChange,
    probe_duration,
)
from recording.fsutil import sha256_file
from recording.recorder import spool_tracks_dir
from sessions import audit, cases, receptions
from sessions import exports as store
from sessions import recordings as recs
from sessions.access import Perm, Principal
from sessions.audit import AuditContext
from sessions.db import transaction
from sessions.errors import Conflict, Forbidden
from sessions.models import ExportRecord, ExportState, ReceptionSession, RecordingRecord, utcnow
from web.auth import audit_context
from web.http import ok, principal, requires
from web.keys import CONFIG, DB
from web.recordings import STORAGE, stream_stored
from web.validation import Fields, path_id, read_json

log = logging.getLogger("tiepdan.export")
STATE_LABELS = {
    ExportState.QUEUED: "Đang chờ",
    ExportState.RUNNING: "Đang xuất",
    ExportState.DONE: "Đã xong",
    ExportState.FAILED: "Lỗi",
}
_CHUNK = 1024 * 1024

# What a user reads of a failed export (API and pages). The exception's own words (paths on
# this server, object keys, ffmpeg's last lines) go to the log only, under the job's id.
FAILED_STORAGE = (
    "Không đọc hoặc ghi được kho lưu trữ khi xuất video. Hãy báo quản trị viên (mã xuất #{id})."
)
FAILED_INTEGRITY = (
    "Tệp ghi hình trong kho không khớp mã băm đã lưu nên không được dùng để xuất video. "
    "Hãy báo quản trị viên (mã xuất #{id})."
)
FAILED_RENDER = "Không dựng được video tổng hợp. Hãy báo quản trị viên (mã xuất #{id})."
FAILED_INTERNAL = "Lỗi hệ thống khi xuất video. Hãy báo quản trị viên (mã xuất #{id})."
_FAILURES = (FAILED_STORAGE, FAILED_INTEGRITY, FAILED_RENDER, FAILED_INTERNAL)


class TrackMismatch(ExportError):
    """A stored track file does not hash to what was recorded."""


def failure_reason(exc: BaseException, export_id: int) -> str:
    """The user's reason for a failed export, by the kind of failure."""
    if isinstance(exc, TrackMismatch | IntegrityError):
        reason = FAILED_INTEGRITY
    elif isinstance(exc, RecordingError | OSError):
        reason = FAILED_STORAGE
    elif isinstance(exc, ExportError):
        reason = FAILED_RENDER
    else:
        reason = FAILED_INTERNAL
    return reason.format(id=export_id)


def shown_error(row: ExportRecord) -> str | None:
    """A failed export's error as users may read it: one of the reasons above (or the stop's),
    never text that a row written otherwise may hold."""
    if row.error is None:
        return None
    if row.error == store.INTERRUPTED or row.error in (m.format(id=row.id) for m in _FAILURES):
        return row.error
    return FAILED_INTERNAL.format(id=row.id)


class ExportService:
    """Runs the exports of the app; `stop()` cancels what runs and marks it failed."""

    def __init__(
        self,
        config: ExportConfig,
        storage: Storage,
        db: async_sessionmaker[AsyncSession],
        work_dir: Path,
        *,
        logger: logging.Logger | None = None,
    ) -> None:
        self.config = config
        self.storage = storage
        self.work_dir = work_dir
        self.log = logger or log
        self.queue = ExportQueue(config, logger=self.log)
        self._db = db
        self._slots = asyncio.Semaphore(config.max_concurrent)
        self._tasks: dict[int, asyncio.Task[None]] = {}

    async def start(self) -> None:
        async with transaction(self._db) as db:
            cut = await store.mark_interrupted(db)
        if cut:
            self.log.warning("exports %s were cut by the last stop: marked failed", cut)

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.queue.stop()

    def submit(self, export_id: int) -> None:
        task = asyncio.create_task(self._run(export_id), name=f"export-job {export_id}")
        self._tasks[export_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(export_id, None))

    async def wait(self, export_id: int) -> None:
        """Until the job has finished, whatever its outcome (tests, CLI)."""
        task = self._tasks.get(export_id)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    def progress(self, row: ExportRecord) -> float:
        job = self.queue.job(str(row.id))
        if row.state is ExportState.RUNNING and job is not None:
            return job.progress
        return row.progress

    # -- one job ---------------------------------------------------------------------------

    async def _run(self, export_id: int) -> None:
        try:
            async with self._slots:
                await self._set(export_id, ExportState.RUNNING)
                await self._render(export_id)
        except asyncio.CancelledError:
            await self._set(export_id, ExportState.FAILED, store.INTERRUPTED)
            raise
        except (ExportError, RecordingError, OSError) as exc:
            self.log.warning("export %d failed: %s", export_id, exc)
            await self._set(export_id, ExportState.FAILED, failure_reason(exc, export_id))
        except Exception as exc:  # a bug: keep the failure visible, log the trace
            self.log.exception("export %d crashed", export_id)
            await self._set(export_id, ExportState.FAILED, failure_reason(exc, export_id))
        finally:
            await asyncio.to_thread(shutil.rmtree, self._dir(export_id), True)

    def _dir(self, export_id: int) -> Path:
        return self.work_dir / f"export-{export_id}"

    async def _render(self, export_id: int) -> None:
        async with self._db() as db:
            row = await store.get_export(db, export_id)
            s = await db.get(ReceptionSession, row.session_id)
            assert s is not None
            records = await store.stored_tracks(db, row.session_id)
            floor = await store.session_floor(db, row.session_id)
        work = self._dir(export_id)
        await asyncio.to_thread(work.mkdir, parents=True, exist_ok=True)
        tracks = [await self._track(r, work) for r in records]
        spec = ExportSpec(
            tracks=tuple(tracks),
            floor=tuple(FloorChange(f.at.timestamp(), f.endpoint_id) for f in floor),
            central_endpoint_id=s.central_endpoint_id,
            start=None if row.range_from is None else row.range_from.timestamp(),
            end=None if row.range_to is None else row.range_to.timestamp(),
        )
        job = self.queue.submit(spec, work / "export.mp4", job_id=str(export_id))
        output = await job.wait()
        size, digest = await asyncio.to_thread(sha256_file, output)
        duration = await probe_duration(output, self.config)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        key = f"exports/sessions/{row.session_id}/export-{export_id}-{stamp}.mp4"
        stored = await self.storage.store_file(output, key, sha256=digest)
        async with transaction(self._db) as db:
            done = await store.get_export(db, export_id)
            done.state, done.progress, done.error = ExportState.DONE, 1.0, None
            done.storage_key, done.size_bytes, done.sha256 = stored.key, size, stored.sha256
            done.duration_ms, done.finished_at = round(duration * 1000), utcnow()
            await _audit_system(db, done, "export.done", key=key, sha256=digest, size=size)

    async def _track(self, r: RecordingRecord, work: Path) -> ExportTrack:
        return ExportTrack(
            path=await self._local_copy(r, work),
            endpoint_id=r.endpoint_id,
            kind=cast(TrackKind, r.track_kind),
            source=cast(TrackSource, r.track_source),
            started_at=r.started_at.timestamp(),
            duration_s=None,  # ask ffprobe: the file is the truth
        )

    async def _local_copy(self, r: RecordingRecord, work: Path) -> Path:
        """The spool copy if the recorder left one (`keep_local_after_upload`), or the
        stored file itself on a local store, else the stored bytes read into `work`; each
        must match the recorded hash."""
        name = r.storage_key.rsplit("/", 1)[-1]
        spool = spool_tracks_dir(self.storage.config) / name
        stored = self.storage.local_path(r.storage_key)  # a local store: read it in place
        for candidate in (spool, stored):
            if candidate is not None and await asyncio.to_thread(candidate.is_file):
                _, digest = await asyncio.to_thread(sha256_file, candidate)
                if digest == r.sha256:
                    return candidate
        target = work / f"{r.id}-{name}"
        digest = await asyncio.to_thread(self._fetch, r.storage_key, target)
        if digest != r.sha256:
            raise TrackMismatch(f"track file {r.storage_key}: sha256 {digest}, expected {r.sha256}")
        return target

    def _fetch(self, key: str, target: Path) -> str:
        h = hashlib.sha256()
        with target.open("wb") as out:
            for chunk in self.storage.backend.read_chunks(key):
                h.update(chunk)
                out.write(chunk)
        return h.hexdigest()

    async def _set(self, export_id: int, state: ExportState, error: str | None = None) -> None:
        async with transaction(self._db) as db:
            row = await db.get(ExportRecord, export_id)
            if row is None:
                return
            row.state, row.error = state, error
            if state is ExportState.FAILED:
                row.finished_at = utcnow()
                await _audit_system(db, row, "export.failed", error=error)


async def _audit_system(db: AsyncSession, row: ExportRecord, action: str, **detail: Any) -> None:
    s = await db.get(ReceptionSession, row.session_id)
    await audit.record(
        db,
        AuditContext(None),
        action,
        "export",
        row.id,
        s.unit_id if s is not None else None,
        {"session_id": row.session_id, "case_id": row.case_id, **detail},
        actor_username="system",
    )


# -- start-up -----------------------------------------------------------------------------

EXPORTS = web.AppKey("exports", ExportService)
# Set before the app starts to change how exports render; left out, `ExportConfig()`.
EXPORT_CONFIG = web.AppKey("export_config", ExportConfig)


async def exports_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app.get(EXPORT_CONFIG) or ExportConfig()
    work = app[CONFIG].var_dir / "exports"
    service = ExportService(config, app[STORAGE], app[DB], work)
    await service.start()
    app[EXPORTS] = service
    yield
    await service.stop()


# -- the API ------------------------------------------------------------------------------


def export_view(row: ExportRecord, service: ExportService, request: web.Request) -> dict[str, Any]:
    tz = request.app[CONFIG].tz
    done = row.state is ExportState.DONE

    def at(value: datetime | None) -> str | None:
        return None if value is None else value.astimezone(tz).isoformat()

    return {
        "id": row.id,
        "session_id": row.session_id,
        "case_id": row.case_id,
        "state": row.state.value,
        "state_label": STATE_LABELS[row.state],
        "progress": round(service.progress(row), 3),
        "error": shown_error(row),
        "range_from": at(row.range_from),
        "range_to": at(row.range_to),
        "storage_key": row.storage_key,
        "size_bytes": row.size_bytes,
        "sha256": row.sha256,
        "duration_ms": row.duration_ms,
        "created_at": at(row.created_at),
        "finished_at": at(row.finished_at),
        "url": f"/api/v1/exports/{row.id}",
        "download_url": f"/api/v1/exports/{row.id}/download" if done else None,
    }


async def _check_request(
    db: AsyncSession, p: Principal, session_id: int, case_id: int | None
) -> tuple[ReceptionSession, tuple[datetime, datetime] | None]:
    """404 for what the caller cannot see, 422 for a case not on the agenda, 409 when there
    is nothing recorded to export."""
    s = await receptions.get_session(db, p, session_id)
    if case_id is None:
        await store.stored_tracks(db, session_id)
        return s, None
    await cases.get_case_row(db, p, case_id)
    await store.check_on_agenda(db, session_id, case_id)
    await store.stored_tracks(db, session_id)
    return s, await store.case_range(db, session_id, case_id)


@requires(Perm.CASES_READ)
async def request_export(request: web.Request) -> web.StreamResponse:
    """Queue a composite export of a session (or of one case's range): 202 and the job."""
    p = principal(request)
    session_id = path_id(request)
    fields = Fields(await read_json(request) if request.body_exists else {}, {"case_id"})
    case_id = fields.integer("case_id")
    fields.done()
    async with transaction(request.app[DB]) as db:
        s, span = await _check_request(db, p, session_id, case_id)
        allowed, protected = await recs.may_replay(db, p, session_id)
        row: ExportRecord | None = None
        if allowed:
            row = await store.create_export(db, session_id, case_id, p.account_id, span)
        await audit.record(
            db,
            audit_context(request),
            "export.request" if allowed else "export.request.denied",
            "export" if row is not None else "session",
            row.id if row is not None else session_id,
            s.unit_id,
            {"session_id": session_id, "case_id": case_id, "protected_cases": protected},
        )
    if row is None:
        raise _restricted()
    service = request.app[EXPORTS]
    service.submit(row.id)
    return ok(export_view(row, service, request), status=202)


def _restricted() -> Forbidden:
    return Forbidden(
        "Phiên có vụ việc tố cáo: chỉ tài khoản được cấp quyền cho mọi hồ sơ tố cáo của "
        "phiên mới được xuất, tải video tổng hợp.",
        {"export": "video có thông tin người tố cáo được bảo mật"},
    )


@requires(Perm.CASES_READ)
async def get_export(request: web.Request) -> web.StreamResponse:
    p = principal(request)
    async with request.app[DB]() as db:
        row = await store.get_export(db, path_id(request))
        await receptions.get_session(db, p, row.session_id)
    return ok(export_view(row, request.app[EXPORTS], request))


@requires(Perm.CASES_READ)
async def download_export(request: web.Request) -> web.StreamResponse:
    """Stream the finished MP4. Restricted like the track files; every access audited."""
    p = principal(request)
    async with transaction(request.app[DB]) as db:
        row = await store.get_export(db, path_id(request))
        s = await receptions.get_session(db, p, row.session_id)
        allowed, protected = await recs.may_replay(db, p, row.session_id)
        await audit.record(
            db,
            audit_context(request),
            "export.download" if allowed else "export.download.denied",
            "export",
            row.id,
            s.unit_id,
            {"session_id": s.id, "key": row.storage_key, "protected_cases": protected},
        )
    if not allowed:
        raise _restricted()
    if row.state is not ExportState.DONE or row.storage_key is None:
        raise Conflict("Video tổng hợp chưa xuất xong.", {"state": row.state.value})
    return await _stream(request, row)


async def _stream(request: web.Request, row: ExportRecord) -> web.StreamResponse:
    assert row.storage_key is not None
    return await stream_stored(
        request,
        request.app[EXPORTS].storage,
        row.storage_key,
        "video/mp4",
        row.size_bytes,
        row.sha256,
        False,
        "Kho lưu trữ không đọc được video.",
    )


async def export_views(
    db: AsyncSession,
    request: web.Request,
    *,
    session_id: int | None = None,
    case_id: int | None = None,
) -> list[dict[str, Any]]:
    """The latest exports of a session or a case, for the pages."""
    service = request.app[EXPORTS]
    rows = await store.list_exports(db, session_id=session_id, case_id=case_id)
    return [export_view(r, service, request) for r in rows]


def setup(app: web.Application) -> None:
    """After `web.recordings.setup` (the store); the exports stop before the database."""
    app.cleanup_ctx.append(exports_ctx)
    r = app.router
    r.add_post("/api/v1/sessions/{id:[0-9]+}/exports", request_export)
    r.add_get("/api/v1/exports/{id:[0-9]+}", get_export)
    r.add_get("/api/v1/exports/{id:[0-9]+}/download", download_export)
