"""Documents handed in for a case: upload (page form and API, one reader), listing, download
and the printable receipt (giấy biên nhận).

A file's type is told by its first bytes (`sessions.documents.sniff`), never by its name; an
empty file, a file over `Config.max_document_bytes` or of another type is refused with the
whole upload, before anything is stored. The SHA-256 is computed while the file is copied to
the spool; the store then writes it once under a new `documents/` key (never overwritten)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote

from aiohttp import web

from recording.storage import Storage
from sessions import audit, documents
from sessions.access import Perm
from sessions.db import transaction
from sessions.errors import Forbidden, Invalid
from sessions.models import CaseDocument, utcnow
from sessions.text import nfc
from web import inbound
from web.auth import audit_context
from web.http import Handler, ok, principal, requires
from web.keys import CONFIG, DB
from web.recordings import STORAGE, stream_stored
from web.validation import path_id

MAX_FILES = 10  # files in one batch (one receipt)
MAX_DESCRIPTION = 300
MAX_NAME = 200
_CHUNK = 1 << 16
# Marks a handler whose body may be as large as a batch of documents (see web.middleware).
UPLOAD_ATTR = "tiepdan_upload"


def upload_route(handler: Handler) -> Handler:
    setattr(handler, UPLOAD_ATTR, True)
    return handler


def body_limit(max_document_bytes: int) -> int:
    """The largest body an upload route reads: a full batch, and room for the form's text."""
    return MAX_FILES * max_document_bytes + (1 << 16)


@dataclass(frozen=True, slots=True)
class Received:
    file_name: str
    media_type: str
    size: int
    sha256: str
    spooled: Path


@dataclass
class Upload:
    """An upload read and checked: the files spooled, or the errors by field."""

    files: list[Received]
    description: str
    errors: dict[str, str]

    def discard(self) -> None:
        for f in self.files:
            f.spooled.unlink(missing_ok=True)


def _spool(source: IO[bytes], folder: Path, limit: int) -> tuple[str | None, int, str, Path]:
    """Copy to a spool file, hashing as it is written; stop past `limit` bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    head = b""
    with tempfile.NamedTemporaryFile(dir=folder, delete=False, suffix=".part") as out:
        while chunk := source.read(_CHUNK):
            if len(head) < documents.SNIFF_BYTES:
                head += chunk[: documents.SNIFF_BYTES]
            size += len(chunk)
            if size > limit:
                break
            digest.update(chunk)
            out.write(chunk)
    return documents.sniff(head), size, digest.hexdigest(), Path(out.name)


def _file_name(raw: str) -> str:
    """The name as the person sees it: some clients percent-encode a UTF-8 name (RFC 7578
    allows it), browsers send it raw; a path before it is dropped."""
    with contextlib.suppress(UnicodeDecodeError):
        raw = unquote(raw, errors="strict")
    name = nfc(inbound.clean(raw.replace("\\", "/").rsplit("/", 1)[-1]).strip())
    return name[-MAX_NAME:] or "tai-lieu"


async def read_upload(request: web.Request, storage: Storage) -> Upload:
    """Read the posted files (field `file`, repeated) and `description`; every problem
    gathered by field ("file", "file[1]", "description")."""
    posted = await inbound.form(request)
    limit = request.app[CONFIG].max_document_bytes
    upload = Upload([], "", {})
    description = posted.get("description", "")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        upload.errors["description"] = f"tối đa {MAX_DESCRIPTION} ký tự"
    else:
        upload.description = inbound.clean(description).strip()
    fields = [f for f in posted.getall("file", []) if isinstance(f, web.FileField)]
    if not fields:
        upload.errors["file"] = "chưa chọn tệp nào"
    elif len(fields) > MAX_FILES:
        upload.errors["file"] = f"tối đa {MAX_FILES} tệp mỗi lần nhận"
        fields = []
    folder = storage.spool_dir / "documents-in"
    for i, field in enumerate(fields):
        key = "file" if i == 0 else f"file[{i}]"
        name = _file_name(field.filename or "")
        media_type, size, sha, path = await asyncio.to_thread(_spool, field.file, folder, limit)
        problem = None
        if size == 0:
            problem = f"{name}: tệp rỗng"
        elif size > limit:
            problem = f"{name}: quá {limit // (1024 * 1024) or 1} MB"
        elif media_type is None:
            problem = f"{name}: chỉ nhận PDF, JPEG, PNG hoặc TIFF (theo nội dung tệp)"
        if problem is not None:
            upload.errors[key] = problem
            path.unlink(missing_ok=True)
        else:
            assert media_type is not None
            upload.files.append(Received(name, media_type, size, sha, path))
    if upload.errors:
        upload.discard()
        upload.files = []
    return upload


async def store_upload(
    request: web.Request, case_id: int, upload: Upload
) -> tuple[str, list[CaseDocument]]:
    """Check the case may receive documents, store each file under a new key, then write
    the rows and the audit in one transaction. Returns the batch and its rows."""
    p = principal(request)
    storage = request.app[STORAGE]
    async with request.app[DB]() as db:
        await documents.writable_case(db, p, case_id)
    batch = utcnow().strftime("%Y%m%d%H%M%S") + "-" + secrets.token_hex(4)
    stored: list[tuple[Received, str]] = []
    try:
        for i, f in enumerate(upload.files):
            key = documents.storage_key(case_id, batch, i + 1, f.media_type)
            await storage.store_file(f.spooled, key, sha256=f.sha256)
            stored.append((f, key))
    finally:
        upload.discard()
    async with transaction(request.app[DB]) as db:
        case = await documents.writable_case(db, p, case_id)
        rows = [
            CaseDocument(
                case_id=case.id,
                batch=batch,
                file_name=f.file_name,
                media_type=f.media_type,
                size_bytes=f.size,
                sha256=f.sha256,
                storage_key=key,
                description=upload.description,
                received_by_id=p.account_id,
            )
            for f, key in stored
        ]
        db.add_all(rows)
        await db.flush()
        await audit.record(
            db,
            audit_context(request),
            "case.documents",
            "case",
            case.id,
            case.handling_unit_id,
            {"batch": batch, "documents": [r.id for r in rows], "sha256": [r.sha256 for r in rows]},
        )
    return batch, rows


def document_json(d: CaseDocument, received_by: str = "") -> dict[str, Any]:
    return {
        "id": d.id,
        "case_id": d.case_id,
        "batch": d.batch,
        "file_name": d.file_name,
        "media_type": d.media_type,
        "size_bytes": d.size_bytes,
        "sha256": d.sha256,
        "description": d.description,
        "received_by_id": d.received_by_id,
        "received_by": received_by,
        "received_at": d.received_at.isoformat(),
        "download_url": f"/api/v1/documents/{d.id}/download",
    }


# API ------------------------------------------------------------------------------------


@requires(Perm.CASES_WRITE)
@upload_route
async def api_upload(request: web.Request) -> web.StreamResponse:
    case_id = path_id(request)
    upload = await read_upload(request, request.app[STORAGE])
    if upload.errors:
        raise Invalid("Tài liệu không hợp lệ, không tệp nào được lưu.", upload.errors)
    batch, rows = await store_upload(request, case_id, upload)
    name = principal(request).full_name
    return ok({"batch": batch, "items": [document_json(r, name) for r in rows]}, 201)


@requires(Perm.CASES_READ)
async def api_list(request: web.Request) -> web.StreamResponse:
    async with request.app[DB]() as db:
        views = await documents.list_documents(db, principal(request), path_id(request))
    if views is None:
        raise Forbidden(
            "Tài liệu của hồ sơ tố cáo chỉ dành cho người được cấp quyền.",
            {"documents": "có thông tin người tố cáo được bảo mật"},
        )
    return ok({"items": [document_json(v.document, v.received_by) for v in views]})


@requires(Perm.CASES_READ)
async def api_download(request: web.Request) -> web.StreamResponse:
    """Stream a document (`?inline=1` to open it); each read is audited."""
    async with transaction(request.app[DB]) as db:
        row = await documents.get_document(db, principal(request), path_id(request))
        await audit.record(
            db,
            audit_context(request),
            "document.download",
            "document",
            row.id,
            detail={"case_id": row.case_id, "sha256": row.sha256},
        )
    return await stream_stored(
        request,
        request.app[STORAGE],
        row.storage_key,
        row.media_type,
        row.size_bytes,
        row.sha256,
        request.query.get("inline") == "1",
        "Kho lưu trữ không đọc được tài liệu.",
    )


PageRerender = Callable[[dict[str, str], int], Awaitable[web.StreamResponse]]


async def page_upload(request: web.Request, rerender: PageRerender) -> web.StreamResponse:
    """The page form's path: errors re-render the case page (422), success redirects."""
    case_id = path_id(request)
    upload = await read_upload(request, request.app[STORAGE])
    if upload.errors:
        return await rerender(upload.errors, 422)
    batch, _ = await store_upload(request, case_id, upload)
    return web.Response(
        status=303, headers={"Location": f"/cases/{case_id}?received={batch}#documents"}
    )


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/v1/cases/{id:[0-9]+}/documents", api_upload)
    r.add_get("/api/v1/cases/{id:[0-9]+}/documents", api_list)
    r.add_get("/api/v1/documents/{id:[0-9]+}/download", api_download)
