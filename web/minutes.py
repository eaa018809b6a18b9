"""The minutes as the pages and the API serve them: one version read for the caller (names
decided by `sessions.identity`), laid out as a `Paper`, and answered as a page, a PDF or a
DOCX. The page and the API call the same functions, so they say the same thing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.db import transaction
from sessions.errors import Conflict
from sessions.minutes import reading, store
from sessions.minutes.reading import Reading
from sessions.models import Account, CaseFile, Minutes, MinutesState
from web.auth import audit_context
from web.errors import BadRequest
from web.http import principal
from web.keys import CONFIG, DB
from web.paper.fonts import find_fonts
from web.paper.minutes import minutes_paper, notice_paper
from web.paper.model import Paper
from web.paper.pdf import render_pdf
from web.paper.word import render_docx

Format = Literal["pdf", "docx"]
FORMATS: tuple[Format, ...] = ("pdf", "docx")
MEDIA = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


@dataclass(frozen=True, slots=True)
class MinutesView:
    m: Minutes
    reading: Reading
    paper: Paper
    case: CaseFile | None
    verified: bool | None
    superseded_by: Minutes | None
    chair_id: int
    author: str
    finalized_by: str

    @property
    def notice_ready(self) -> bool:
        return self.m.state is MinutesState.LOCKED and self.m.agenda_item_id is not None


def format_of(request: web.Request) -> Format | None:
    """`?format=pdf|docx`; absent: the caller wants the page (or JSON); else 400."""
    raw = request.query.get("format")
    if raw is None or raw == "":
        return None
    for fmt in FORMATS:
        if raw == fmt:
            return fmt
    raise BadRequest("Định dạng không được hỗ trợ.", {"format": "phải là pdf hoặc docx"})


async def _view(
    db: AsyncSession, request: web.Request, m: Minutes, reveal: str | None
) -> MinutesView:
    p = principal(request)
    versions = await store.list_versions(db, p, m.session_id)
    later = store.superseded(versions).get(m.id)
    read = await reading.read(db, audit_context(request), m, reveal)
    wanted = [i for i in (m.author_id, m.finalized_by_id) if i is not None]
    names = dict(
        (i, n)
        for i, n in await db.execute(
            select(Account.id, Account.full_name).where(Account.id.in_(wanted))
        )
    )
    author = names.get(m.author_id or 0, "")
    paper = minutes_paper(m, read, request.app[CONFIG].tz, author, later.version if later else None)
    return MinutesView(
        m,
        read,
        paper,
        await store.case_of(db, m),
        store.verifies(m),
        later,
        int(m.facts.get("chair", {}).get("id") or 0),
        author,
        names.get(m.finalized_by_id or 0, ""),
    )


async def minutes_view(
    request: web.Request, minutes_id: int, reveal: str | None = None
) -> MinutesView:
    """One version for the caller; a reveal (cleared accounts, with a reason) is audited."""
    async with transaction(request.app[DB]) as db:
        m = await store.get_minutes(db, principal(request), minutes_id)
        return await _view(db, request, m, reveal)


def notice_of(request: web.Request, view: MinutesView) -> Paper:
    """The conclusion notice of the case of a final item's minutes."""
    if not view.notice_ready:
        raise Conflict(
            "Thông báo kết luận được lập từ biên bản đã hoàn tất của một vụ việc.",
            {"state": "biên bản chưa hoàn tất" if view.m.agenda_item_id else "biên bản chung"},
        )
    return notice_paper(view.m, view.reading, request.app[CONFIG].tz)


async def paper_file(request: web.Request, paper: Paper, fmt: Format) -> web.Response:
    """The paper as a download. The PDF needs a font file (FontMissing: 503, the message
    says what to install); laying out runs off the event loop."""
    if fmt == "pdf":
        fonts = find_fonts(request.app[CONFIG].document_font_dir)
        body = await asyncio.to_thread(render_pdf, paper, fonts)
    else:
        body = await asyncio.to_thread(render_docx, paper)
    return web.Response(
        body=body,
        headers={
            "Content-Type": MEDIA[fmt],
            "Content-Disposition": f'attachment; filename="{paper.file_stem}.{fmt}"',
            "Cache-Control": "no-store",  # it may hold a revealed identity
        },
    )


def version_json(m: Minutes, later: Minutes | None, tz: Any) -> dict[str, Any]:
    """A version as the API lists it; never the facts (they hold citizens' ids)."""

    def at(value: Any) -> str | None:
        return value.astimezone(tz).isoformat() if value is not None else None

    items = m.facts.get("items", [])
    return {
        "id": m.id,
        "session_id": m.session_id,
        "agenda_item_id": m.agenda_item_id,
        "case_id": items[0]["case_id"] if m.agenda_item_id is not None and items else None,
        "version": m.version,
        "state": m.state.value,
        "sha256": m.sha256,
        "verified": store.verifies(m),
        "supersedes_id": m.supersedes_id,
        "superseded_by_id": later.id if later is not None else None,
        "revision": m.revision,
        "author_id": m.author_id,
        "finalized_by_id": m.finalized_by_id,
        "created_at": at(m.created_at),
        "updated_at": at(m.updated_at),
        "locked_at": at(m.locked_at),
        "links": {
            "page": f"/minutes/{m.id}",
            "pdf": f"/api/v1/minutes/{m.id}?format=pdf",
            "docx": f"/api/v1/minutes/{m.id}?format=docx",
        },
    }


def detail_json(view: MinutesView, tz: Any) -> dict[str, Any]:
    """One version with its typed parts and who was heard, as this caller may read them."""
    m = view.m
    out = version_json(m, view.superseded_by, tz)
    secret = any(r.secret for r in view.reading.items.values()) and m.agenda_item_id is not None
    parts = {part: None if secret else getattr(m, part) for part in store.TEXT_PARTS}
    out |= parts
    out["withheld"] = view.reading.withheld
    out["directions"] = (
        None
        if secret
        else [
            {
                "position": d.position,
                "unit_id": d.unit_id,
                "unit_name": d.unit_name,
                "text": d.text,
                "due_on": d.due_on.isoformat() if d.due_on else None,
            }
            for d in m.directions
        ]
    )
    out["heard"] = [
        {
            "agenda_item_id": int(item["id"]),
            "case_id": item["case_id"],
            "case_code": item["case_code"],
            "citizens": [
                {"id": c.id, "full_name": c.full_name} if c is not None else {"withheld": True}
                for c in (r.people if r is not None and not r.secret else ())
            ],
            "withheld": r is None or r.secret or None in r.people,
        }
        for item in m.facts.get("items", [])
        for r in [view.reading.items.get(int(item["id"]))]
    ]
    return out
