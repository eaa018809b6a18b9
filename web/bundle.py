"""The case bundle for hand-over: one ZIP with the case's final minutes and conclusion
notices (PDF and DOCX), the composite video of the case's segment in each session that
heard it, the documents the citizens handed in, and a manifest with every file's SHA-256.

What goes in is what the requesting account may see, decided where it always is: minutes
are read through `sessions.identity` (a withheld identity stays withheld in the PDF and the
DOCX), documents and video of a protected case only for an account cleared for it
(`identity.may_see_case_material`, `identity.replay_restriction`); what was left out, and
why, is written in the manifest. The papers are made while the request is answered (they
need its account); the videos are rendered by the export worker and the ZIP written in the
background, one bundle at a time; the page and the API follow the job.

File names keep their diacritics; `zipfile` marks such names UTF-8 (general purpose flag
bit 11), as the APPNOTE asks."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import logging
import shutil
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from recording import Storage
from recording.fsutil import sha256_file
from sessions import audit, exports, identity
from sessions.access import Perm, Principal
from sessions.cases import get_case_row
from sessions.db import transaction
from sessions.errors import Conflict, Forbidden, NotFound
from sessions.minutes import store as minutes_store
from sessions.models import CaseDocument, CaseFile, ExportState, MinutesState, RecordingAttachment
from sessions.text import nfc
from web.auth import audit_context
from web.exports import EXPORTS
from web.http import ok, principal, requires
from web.keys import CONFIG, DB
from web.minutes import minutes_view, notice_of
from web.paper.fonts import find_fonts
from web.paper.pdf import render_pdf
from web.paper.word import render_docx
from web.recordings import STORAGE
from web.validation import Fields, path_id, read_json

log = logging.getLogger("tiepdan.bundle")
PARTS = ("minutes", "video", "documents")  # what a bundle may hold; all by default
STATES_VI = {"queued": "Đang chờ", "running": "Đang đóng gói", "done": "Đã xong", "failed": "Lỗi"}


@dataclass
class Part:
    name: str  # the path inside the ZIP
    data: bytes | None = None  # in memory (papers, documents)
    export_id: int | None = None  # a composite video the export worker renders


@dataclass
class BundleJob:
    id: int
    case_id: int
    case_code: str
    account_id: int
    parts: list[Part]
    withheld: list[str]
    heard_s: float
    state: str = "queued"
    error: str | None = None
    path: Path | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    files: int = 0
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def _safe(text: str) -> str:
    """A file name part: the text as written (diacritics kept), without path separators."""
    cleaned = "".join("-" if ch in '/\\:*?"<>|' or ord(ch) < 32 else ch for ch in nfc(text))
    return cleaned.strip(" .")[:80] or "tep"


class BundleService:
    """Bundles being made, kept in memory (a bundle is derived from what the store holds:
    after a restart it is asked for again)."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.jobs: dict[int, BundleJob] = {}
        self._ids = itertools.count(1)
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._app: web.Application | None = None

    def start(self, app: web.Application) -> None:
        self._app = app
        self._task = asyncio.create_task(self._run(), name="bundles")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def submit(self, job: BundleJob) -> None:
        self.jobs[job.id] = job
        self._queue.put_nowait(job.id)

    def new_id(self) -> int:
        return next(self._ids)

    async def _run(self) -> None:
        while True:
            job = self.jobs[await self._queue.get()]
            job.state = "running"
            try:
                await self._make(job)
                job.state = "done"
            except Exception as exc:
                log.exception("bundle %d failed", job.id)
                job.state, job.error = "failed", _failure(exc)

    async def _make(self, job: BundleJob) -> None:
        assert self._app is not None
        service = self._app[EXPORTS]
        storage = self._app[STORAGE]
        for part in job.parts:
            if part.export_id is not None:
                service.submit(part.export_id)
        folder = self.work_dir / str(job.id)
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        target = folder / f"{_safe(job.case_code)}.zip"
        listed: list[dict[str, Any]] = []
        with zipfile.ZipFile(target, "w", allowZip64=True) as zf:
            for part in job.parts:
                if part.data is not None:
                    digest = hashlib.sha256(part.data).hexdigest()
                    zf.writestr(part.name, part.data, zipfile.ZIP_DEFLATED)
                    listed.append({"name": part.name, "sha256": digest, "size": len(part.data)})
                    continue
                assert part.export_id is not None
                await service.wait(part.export_id)
                async with self._app[DB]() as db:
                    row = await exports.get_export(db, part.export_id)
                if row.state is not ExportState.DONE or row.storage_key is None:
                    raise Conflict(f"Xuất video của vụ việc lỗi: {row.error or row.state.value}.")
                size, digest = await asyncio.to_thread(
                    _copy_into, zf, part.name, storage.backend.read_chunks(row.storage_key)
                )
                if digest != row.sha256:
                    raise Conflict("Tệp video đọc lại từ kho không khớp mã SHA-256 đã lưu.")
                listed.append({"name": part.name, "sha256": digest, "size": size})
            manifest = {
                "case": job.case_code,
                "created_at": job.created_at.isoformat(),
                "files": listed,
                "withheld": job.withheld,
                "note": "SHA-256 của từng tệp trong gói; tệp này không tự liệt kê chính nó.",
            }
            zf.writestr(
                "manifest.json",
                json.dumps(manifest, ensure_ascii=False, indent=2).encode(),
                zipfile.ZIP_DEFLATED,
            )
        job.files = len(listed) + 1
        job.size_bytes, job.sha256 = await asyncio.to_thread(sha256_file, target)
        job.path = target


def _copy_into(zf: zipfile.ZipFile, name: str, chunks: Any) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with zf.open(zipfile.ZipInfo(name, date_time=_now_tuple()), "w", force_zip64=True) as out:
        for chunk in chunks:
            h.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return size, h.hexdigest()


def _now_tuple() -> tuple[int, int, int, int, int, int]:
    n = datetime.now()
    return (n.year, n.month, n.day, n.hour, n.minute, n.second)


def _read_all(storage: Storage, key: str) -> bytes:
    return b"".join(storage.backend.read_chunks(key))


def _failure(exc: BaseException) -> str:
    if isinstance(exc, Conflict | NotFound | Forbidden):
        return exc.message
    return "Không đóng được gói hồ sơ; hãy thử lại hoặc báo quản trị hệ thống."


BUNDLES = web.AppKey("bundles", BundleService)


async def bundles_ctx(app: web.Application) -> AsyncIterator[None]:
    service = BundleService(app[CONFIG].var_dir / "bundles")
    app[BUNDLES] = service
    service.start(app)
    yield
    await service.stop()
    await asyncio.to_thread(shutil.rmtree, service.work_dir, True)


# -- what goes in ------------------------------------------------------------------------------


async def _papers(request: web.Request, db: AsyncSession, case: CaseFile) -> list[Part]:
    """Final minutes (not superseded) and each item's conclusion notice, PDF and DOCX."""
    p = principal(request)
    versions = await minutes_store.for_case(db, p, case.id)
    later = minutes_store.superseded(versions)
    fonts = find_fonts(request.app[CONFIG].document_font_dir)
    parts: list[Part] = []
    for m in versions:
        if m.state is not MinutesState.LOCKED or m.id in later:
            continue
        view = await minutes_view(request, m.id)
        papers = [("bien-ban", view.paper)]
        if view.notice_ready:
            papers.append(("thong-bao-ket-luan", notice_of(request, view)))
        for folder, paper in papers:
            stem = f"{folder}/{_safe(paper.file_stem)}"
            pdf = await asyncio.to_thread(render_pdf, paper, fonts)
            docx = await asyncio.to_thread(render_docx, paper)
            parts += [Part(f"{stem}.pdf", pdf), Part(f"{stem}.docx", docx)]
    return parts


async def _documents(
    request: web.Request, db: AsyncSession, p: Principal, case: CaseFile
) -> tuple[list[Part], list[str]]:
    rows = list(
        await db.scalars(
            select(CaseDocument).where(CaseDocument.case_id == case.id).order_by(CaseDocument.id)
        )
    )
    if not rows:
        return [], []
    if not await identity.may_see_case_material(db, p, case):
        return [], [f"{len(rows)} tài liệu của hồ sơ tố cáo: chỉ người được cấp quyền nhận."]
    storage = request.app[STORAGE]
    parts = []
    for i, d in enumerate(rows, 1):
        data = await asyncio.to_thread(_read_all, storage, d.storage_key)
        if hashlib.sha256(data).hexdigest() != d.sha256:
            raise Conflict(f"Tài liệu «{d.file_name}» đọc lại từ kho không khớp mã SHA-256.")
        parts.append(Part(f"tai-lieu/{i:02d}-{_safe(d.file_name)}", data))
    return parts, []


async def _videos(
    db: AsyncSession, p: Principal, case: CaseFile
) -> tuple[list[Part], list[str], float]:
    sessions = sorted(
        set(
            await db.scalars(
                select(RecordingAttachment.session_id).where(RecordingAttachment.case_id == case.id)
            )
        )
    )
    parts: list[Part] = []
    withheld: list[str] = []
    heard = 0.0
    for sid in sessions:
        allowed = (await identity.replay_restriction(db, p, sid, case.id)).allowed
        if not allowed:
            withheld.append(f"Video phiên #{sid}: đoạn có người được bảo vệ danh tính.")
            continue
        span = await exports.case_range(db, sid, case.id)
        job = await exports.create_export(db, sid, case.id, p.account_id, span)
        heard += (span[1] - span[0]).total_seconds()
        parts.append(Part(f"video/phien-{sid}-{_safe(case.code)}.mp4", export_id=job.id))
    return parts, withheld, heard


def job_json(job: BundleJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "case_id": job.case_id,
        "state": job.state,
        "state_label": STATES_VI[job.state],
        "error": job.error,
        "heard_s": job.heard_s,
        "files": job.files,
        "size_bytes": job.size_bytes,
        "sha256": job.sha256,
        "withheld": job.withheld,
        "created_at": job.created_at.isoformat(),
        "download_url": f"/api/v1/bundles/{job.id}/download" if job.state == "done" else None,
    }


async def request_bundle(
    request: web.Request, case_id: int, parts: frozenset[str] = frozenset(PARTS)
) -> BundleJob:
    """Gather the papers and documents for the caller, queue the videos and the ZIP; `parts`
    says which of minutes, video and documents go in."""
    p = principal(request)
    service = request.app[BUNDLES]
    async with transaction(request.app[DB]) as db:
        case = await get_case_row(db, p, case_id)
        papers = await _papers(request, db, case) if "minutes" in parts else []
        documents, withheld = (
            await _documents(request, db, p, case) if "documents" in parts else ([], [])
        )
        videos, hidden, heard = await _videos(db, p, case) if "video" in parts else ([], [], 0.0)
        job = BundleJob(
            service.new_id(),
            case.id,
            case.code,
            p.account_id,
            [*papers, *documents, *videos],
            [*withheld, *hidden],
            heard,
        )
        if not job.parts:
            raise Conflict(
                "Hồ sơ chưa có biên bản hoàn tất, tài liệu hay đoạn ghi hình nào để đóng gói.",
                {"case_id": "chưa có gì để đóng gói"},
            )
        await audit.record(
            db,
            audit_context(request),
            "case.bundle",
            "case",
            case.id,
            case.handling_unit_id,
            {"bundle": job.id, "files": len(job.parts), "withheld": len(job.withheld)},
        )
    service.submit(job)
    return job


def bundle_views(request: web.Request, case_id: int) -> list[dict[str, Any]]:
    """The caller's bundles of this case, newest first, as the case page lists them."""
    me = principal(request).account_id
    jobs = [j for j in request.app[BUNDLES].jobs.values() if j.case_id == case_id]
    return [
        job_json(j) | {"created_at": j.created_at}
        for j in sorted(jobs, key=lambda j: j.id, reverse=True)
        if j.account_id == me
    ]


def _own(request: web.Request) -> BundleJob:
    job = request.app[BUNDLES].jobs.get(path_id(request))
    if job is None or job.account_id != principal(request).account_id:
        raise NotFound("Không tìm thấy gói hồ sơ này (gói chỉ dành cho người yêu cầu).")
    return job


@requires(Perm.CASES_READ)
async def api_request(request: web.Request) -> web.StreamResponse:
    # The case is in the path; {"parts": [...]} may choose what goes in (all by default).
    fields = Fields(await read_json(request) if request.body_exists else {}, {"parts"})
    parts = read_parts(fields.data.get("parts", list(PARTS)), fields.errors)
    fields.done()
    return ok(job_json(await request_bundle(request, path_id(request), parts)), status=202)


def read_parts(value: object, errors: dict[str, str]) -> frozenset[str]:
    """The parts asked for: a non-empty list of PARTS (errors named `parts`)."""
    if not isinstance(value, list) or not value or not all(v in PARTS for v in value):
        errors["parts"] = "chọn ít nhất một trong: biên bản (minutes), video, tài liệu (documents)"
        return frozenset()
    return frozenset(value)


@requires(Perm.CASES_READ)
async def api_job(request: web.Request) -> web.StreamResponse:
    return ok(job_json(_own(request)))


@requires(Perm.CASES_READ)
async def api_download(request: web.Request) -> web.StreamResponse:
    job = _own(request)
    if job.state != "done" or job.path is None:
        raise Conflict("Gói hồ sơ chưa đóng xong.", {"state": STATES_VI[job.state]})
    async with transaction(request.app[DB]) as db:
        await audit.record(
            db,
            audit_context(request),
            "case.bundle.download",
            "case",
            job.case_id,
            detail={"bundle": job.id, "sha256": job.sha256},
        )
    return web.FileResponse(
        job.path,
        headers={
            "Content-Type": "application/zip",
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(job.path.name)}",
            "Cache-Control": "no-store",
        },
    )


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(bundles_ctx)
    r = app.router
    r.add_post("/api/v1/cases/{id:[0-9]+}/bundle", api_request)
    r.add_get("/api/v1/bundles/{id:[0-9]+}", api_job)
    r.add_get("/api/v1/bundles/{id:[0-9]+}/download", api_download)
