"""What the case page shows of the sections whose forms live elsewhere: intake's documents
and clearances (`intake`), and the citizens' copies of recordings (`copies`).

Apart from those forms' handlers, which re-render the case page (`casefiles.case_page`) on
an error: the page uses this module, the handlers use the page, and nothing imports back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import cases, copies, documents, identity
from sessions.access import WITHHELD, Perm
from sessions.models import CopyState, ExportRecord, RecordingCopy
from web.auth import audit_context
from web.documents import MAX_DESCRIPTION, MAX_FILES
from web.http import principal
from web.keys import CONFIG
from web.pages import lookup

# Intake ---------------------------------------------------------------------------------


async def case_extras(db: AsyncSession, request: web.Request, case_id: int) -> dict[str, Any]:
    """What the case page shows of intake: documents (when readable), the upload form's
    limits, and for a cleared account of a protected case the clearances."""
    p = principal(request)
    docs = await documents.list_documents(db, p, case_id)
    extras: dict[str, Any] = {
        "documents": docs,
        "doc_limit_mb": request.app[CONFIG].max_document_bytes // (1024 * 1024),
        "max_files": MAX_FILES,
        "max_description": MAX_DESCRIPTION,
        "may_write": p.can(Perm.CASES_WRITE),
        "clearances": None,
        "clearable": [],
    }
    case = await cases.get_case_row(db, p, case_id)
    if identity.is_protected_case(case) and p.clearable and await cases.is_cleared(db, p, case_id):
        extras["clearances"] = await cases.list_clearances(db, p, case_id)
        extras["clearable"] = [
            (a.id, f"{a.full_name} ({a.username})")
            for a in await cases.clearable_accounts(db, p, case_id)
        ]
    return extras


# Copies of recordings -------------------------------------------------------------------

COPY_STATES = {
    CopyState.REQUESTED: "Đã nhận yêu cầu, chờ kiểm tra",
    CopyState.APPROVED: "Đã kiểm tra, chấp thuận",
    CopyState.REFUSED: "Không giao: bản sao làm lộ thông tin được bảo vệ",
    CopyState.HANDED_OVER: "Đã bàn giao",
}


@dataclass(frozen=True, slots=True)
class CopyRow:
    copy: RecordingCopy
    citizen: str | None  # None: withheld
    session: str
    state: str
    export_state: str | None
    export_url: str | None


async def copy_extras(db: AsyncSession, request: web.Request, case_id: int) -> dict[str, Any]:
    """The section's rows, the sessions a copy may be of and the citizens who may ask."""
    p = principal(request)
    if not p.can(Perm.CASES_WRITE):
        return {"copies": None}
    rows = await copies.list_copies(db, case_id)
    ctx = audit_context(request)
    parties = await copies.party_ids(db, case_id)
    shown = await identity.identities(
        db, ctx, [*parties, *(r.citizen_id for r in rows)], surface="case-copies", case_id=case_id
    )
    heard = await copies.heard_in(db, case_id)
    names = {s.id: s.title for s in heard}
    names |= await lookup.session_titles(db, (r.session_id for r in rows))
    jobs = {r.export_id: await db.get(ExportRecord, r.export_id) for r in rows if r.export_id}
    out = []
    for r in rows:
        job = jobs.get(r.export_id) if r.export_id else None
        person = shown.get(r.citizen_id)
        out.append(
            CopyRow(
                r,
                person.full_name if person is not None else None,
                names.get(r.session_id, f"Phiên #{r.session_id}"),
                COPY_STATES[r.state],
                job.state.value if job is not None else None,
                f"/api/v1/exports/{job.id}/download" if job is not None else None,
            )
        )
    return {
        "copies": out,
        "copy_sessions": [(s.id, s.title) for s in heard],
        "copy_citizens": [
            (cid, c.full_name if c is not None else WITHHELD)
            for cid, c in shown.items()
            if cid in parties
        ],
        "copy_limits": copies.LIMITS,
    }
