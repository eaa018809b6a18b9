"""Documents a citizen hands in for a case (scans, PDFs, photos) and who may read them.

The bytes live in the app's store under `documents/…`, written once and never overwritten;
this module keeps their rows. A document of a protected case (a denunciation) can reveal the
denouncer (their handwriting, their name on the page): it is read only by accounts cleared for
that case, as `sessions.identity` decides for the identity itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import identity
from sessions.access import Principal
from sessions.cases import get_case_row
from sessions.errors import Forbidden, NotFound
from sessions.models import Account, CaseDocument, CaseFile

# The types a document may be, told by its first bytes (never by its name).
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)
EXTENSIONS = {
    "application/pdf": "pdf",
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/tiff": "tif",
}
TYPE_NAMES = {
    "application/pdf": "PDF",
    "image/jpeg": "Ảnh JPEG",
    "image/png": "Ảnh PNG",
    "image/tiff": "Ảnh TIFF",
}
SNIFF_BYTES = 16


def sniff(head: bytes) -> str | None:
    """The media type the first bytes of a file show, or None for a type not accepted."""
    for magic, media_type in _MAGIC:
        if head.startswith(magic):
            return media_type
    return None


def storage_key(case_id: int, batch: str, index: int, media_type: str) -> str:
    return f"documents/cases/{case_id}/{batch}/{index:03d}.{EXTENSIONS[media_type]}"


@dataclass(frozen=True, slots=True)
class DocumentView:
    document: CaseDocument
    received_by: str

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.document.media_type, self.document.media_type)


async def may_read(db: AsyncSession, p: Principal, case: CaseFile) -> bool:
    """Documents of a protected case: only accounts cleared for it (`sessions.identity`)."""
    return await identity.may_see_case_material(db, p, case)


async def writable_case(db: AsyncSession, p: Principal, case_id: int) -> CaseFile:
    """The case documents may be added to by `p`: in scope and, when protected, cleared."""
    case = await get_case_row(db, p, case_id)
    if not await may_read(db, p, case):
        raise Forbidden(
            "Hồ sơ tố cáo: chỉ người được cấp quyền mới nhận tài liệu cho hồ sơ này.",
            {"file": "cần được cấp quyền xem hồ sơ"},
        )
    return case


async def list_documents(
    db: AsyncSession, p: Principal, case_id: int, batch: str | None = None
) -> list[DocumentView] | None:
    """The case's documents, oldest first; None when `p` may not read them."""
    case = await get_case_row(db, p, case_id)
    if not await may_read(db, p, case):
        return None
    stmt = (
        select(CaseDocument, Account.full_name)
        .join(Account, Account.id == CaseDocument.received_by_id)
        .where(CaseDocument.case_id == case.id)
        .order_by(CaseDocument.id)
    )
    if batch is not None:
        stmt = stmt.where(CaseDocument.batch == batch)
    return [DocumentView(d, name) for d, name in await db.execute(stmt)]


async def get_document(db: AsyncSession, p: Principal, document_id: int) -> CaseDocument:
    """The document if `p` may read it: its case in scope (else NotFound) and, for a
    protected case, `p` cleared for it (else Forbidden)."""
    row = await db.get(CaseDocument, document_id)
    if row is None:
        raise NotFound(f"Không tìm thấy tài liệu #{document_id}.")
    try:
        case = await get_case_row(db, p, row.case_id)
    except NotFound:
        raise NotFound(f"Không tìm thấy tài liệu #{document_id}.") from None
    if not await may_read(db, p, case):
        raise Forbidden(
            "Tài liệu của hồ sơ tố cáo chỉ dành cho người được cấp quyền.",
            {"document": "có thông tin người tố cáo được bảo mật"},
        )
    return row
