"""The archive: searching ended sessions, their integrity checks, and archiving one.

Search is scoped like every list (`receptions.visible`). A citizen's name matches only the
citizens the searcher may refer to (`identity.hidden_from`): a hit on a withheld denouncer's
name would tell who denounced.

An integrity check (`tiepdan recording verify`, or "Kiểm tra toàn vẹn" on the archive page)
is kept as an audit record, `recording.verify` on the session, with its result: the audit
log is append-only, so the history of checks is kept as evidence, and the last one is the
session's integrity status. A session is archived (ended → archived) only when its minutes
are locked and a check passed after its last recording was stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import audit, identity
from sessions.access import Principal
from sessions.audit import AuditContext
from sessions.errors import Conflict
from sessions.models import (
    AgendaCitizen,
    AgendaItem,
    AuditRecord,
    CaseFile,
    CaseKind,
    CaseParty,
    Citizen,
    Minutes,
    MinutesState,
    ReceptionSession,
    RecordingRecord,
    SessionEndpoint,
    SessionState,
    Unit,
)
from sessions.paging import Page, PageRequest, contains, escape_like, paginate
from sessions.receptions import SessionInput, get_session, update_session, visible
from sessions.recordings import STORED_STATES, list_records
from sessions.text import search_key
from sessions.units import scoped_unit, subtree

ARCHIVE_STATES = (SessionState.ENDED, SessionState.ARCHIVED)
VERIFY_ACTION = "recording.verify"
ARCHIVE_ACTION = "session.archive"
MAX_FAILED_KEPT = 50  # failure lines kept in a check's audit record


@dataclass(frozen=True, slots=True)
class ArchiveQuery:
    starts_from: datetime | None = None  # UTC bounds of the local dates asked for
    starts_before: datetime | None = None
    unit_id: int | None = None  # this unit and its sub-units
    endpoint_id: int | None = None
    chair_id: int | None = None
    case_code: str = ""
    case_kind: CaseKind | None = None
    citizen: str = ""


async def search(
    db: AsyncSession, p: Principal, q: ArchiveQuery, req: PageRequest
) -> Page[ReceptionSession]:
    """Ended and archived sessions `p` sees, newest first, matching every filter given."""
    stmt = (
        select(ReceptionSession)
        .where(visible(p), ReceptionSession.state.in_(ARCHIVE_STATES))
        .order_by(ReceptionSession.starts_at.desc(), ReceptionSession.id.desc())
    )
    if req.q.strip():
        stmt = stmt.where(contains(ReceptionSession.title_key, search_key(req.q)))
    if q.starts_from is not None:
        stmt = stmt.where(ReceptionSession.starts_at >= q.starts_from)
    if q.starts_before is not None:
        stmt = stmt.where(ReceptionSession.starts_at < q.starts_before)
    if q.unit_id is not None:
        unit = await scoped_unit(db, p, q.unit_id, "unit_id")
        in_unit = select(Unit.id).where(Unit.path.like(subtree(unit.path), escape="\\"))
        stmt = stmt.where(ReceptionSession.unit_id.in_(in_unit))
    if q.endpoint_id is not None:
        stmt = stmt.where(
            or_(
                ReceptionSession.central_endpoint_id == q.endpoint_id,
                ReceptionSession.id.in_(
                    select(SessionEndpoint.session_id).where(
                        SessionEndpoint.endpoint_id == q.endpoint_id
                    )
                ),
            )
        )
    if q.chair_id is not None:
        stmt = stmt.where(ReceptionSession.chair_id == q.chair_id)
    if q.case_code.strip() or q.case_kind is not None:
        cases = select(AgendaItem.session_id).join(CaseFile, CaseFile.id == AgendaItem.case_id)
        if q.case_code.strip():
            code = escape_like(q.case_code.strip().lower())
            cases = cases.where(func.lower(CaseFile.code).like(f"%{code}%", escape="\\"))
        if q.case_kind is not None:
            cases = cases.where(CaseFile.kind == q.case_kind)
        stmt = stmt.where(ReceptionSession.id.in_(cases))
    key = search_key(q.citizen)
    if key:
        stmt = stmt.where(ReceptionSession.id.in_(_sessions_hearing(p, key)))
    return await paginate(db, stmt, req)


def _sessions_hearing(p: Principal, key: str) -> Any:
    """Sessions where a citizen whose name matches `key` was heard, or is a party to a case
    on the agenda: only citizens `p` may refer to."""
    named = select(Citizen.id).where(
        contains(Citizen.name_key, key), Citizen.id.not_in(identity.hidden_from(p))
    )
    heard = (
        select(AgendaItem.session_id)
        .join(AgendaCitizen, AgendaCitizen.agenda_item_id == AgendaItem.id)
        .where(AgendaCitizen.citizen_id.in_(named))
    )
    parties = (
        select(AgendaItem.session_id)
        .join(CaseParty, CaseParty.case_id == AgendaItem.case_id)
        .where(CaseParty.citizen_id.in_(named))
    )
    return heard.union(parties)


async def agenda_codes(db: AsyncSession, session_ids: Sequence[int]) -> dict[int, list[str]]:
    """The case codes on each session's agenda, in order."""
    out: dict[int, list[str]] = {sid: [] for sid in session_ids}
    if not session_ids:
        return out
    rows = await db.execute(
        select(AgendaItem.session_id, CaseFile.code)
        .join(CaseFile, CaseFile.id == AgendaItem.case_id)
        .where(AgendaItem.session_id.in_(session_ids))
        .order_by(AgendaItem.session_id, AgendaItem.position)
    )
    for sid, code in rows:
        out[sid].append(code)
    return out


# Integrity checks ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Check:
    """The last integrity check of a session: when, by whom, and what it found."""

    at: datetime
    actor: str
    ok: bool
    files: int
    failed_keys: frozenset[str]
    lines: tuple[str, ...]

    def file_ok(self, r: RecordingRecord) -> bool | None:
        """This check's result for one file; None when the file changed after the check."""
        if r.updated_at is not None and r.updated_at > self.at:
            return None
        return r.storage_key not in self.failed_keys and r.state in STORED_STATES


async def record_check(
    db: AsyncSession,
    ctx: AuditContext,
    s: ReceptionSession,
    ok: bool,
    files: int,
    lines: Sequence[str],
    actor: str | None = None,
) -> AuditRecord:
    """Keep the result of an integrity check (`web.recording_checks.verify_session`);
    `actor` names who ran it when no account did (the command line)."""
    fails = [line for line in lines if line.startswith("FAIL ")]
    keys = sorted({line.removeprefix("FAIL ").split(":", 1)[0] for line in fails})
    return await audit.record(
        db,
        ctx,
        VERIFY_ACTION,
        "session",
        s.id,
        s.unit_id,
        {
            "session_id": s.id,
            "ok": ok,
            "files": files,
            "failed_keys": keys[:MAX_FAILED_KEPT],
            "lines": fails[:MAX_FAILED_KEPT],
        },
        actor_username=actor,
    )


async def last_check(db: AsyncSession, session_id: int) -> Check | None:
    row = await db.scalar(
        select(AuditRecord)
        .where(
            AuditRecord.action == VERIFY_ACTION,
            AuditRecord.object_type == "session",
            AuditRecord.object_id == str(session_id),
        )
        .order_by(AuditRecord.id.desc())
        .limit(1)
    )
    return None if row is None else _check_of(row)


async def latest_check(db: AsyncSession) -> Check | None:
    """The latest integrity check of any session (what an operator watches: when the
    archive was last verified, and with what result)."""
    row = await db.scalar(
        select(AuditRecord)
        .where(AuditRecord.action == VERIFY_ACTION, AuditRecord.object_type == "session")
        .order_by(AuditRecord.id.desc())
        .limit(1)
    )
    return None if row is None else _check_of(row)


def _check_of(row: AuditRecord) -> Check:
    d = row.detail or {}
    return Check(
        row.at,
        row.actor_username,
        bool(d.get("ok")),
        int(d.get("files") or 0),
        frozenset(str(k) for k in d.get("failed_keys") or []),
        tuple(str(x) for x in d.get("lines") or []),
    )


# Archiving ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Archivable:
    """Whether a session may be archived now, and if not every reason why (Vietnamese)."""

    reasons: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.reasons


async def minutes_of(db: AsyncSession, session_id: int) -> list[Minutes]:
    rows = await db.scalars(
        select(Minutes).where(Minutes.session_id == session_id).order_by(Minutes.id)
    )
    return list(rows)


async def archivable(db: AsyncSession, s: ReceptionSession) -> Archivable:
    reasons: list[str] = []
    if s.state is SessionState.ARCHIVED:
        return Archivable(["Phiên đã được lưu trữ."])
    if s.state is not SessionState.ENDED:
        reasons.append("Phiên chưa kết thúc.")
    minutes = await minutes_of(db, s.id)
    if not minutes:
        reasons.append("Phiên chưa có biên bản.")
    elif any(m.state is not MinutesState.LOCKED for m in minutes):
        reasons.append("Biên bản chưa được chốt (ký, khóa).")
    records = await list_records(db, s.id)
    unstored = [r for r in records if r.state not in STORED_STATES]
    if unstored:
        reasons.append(f"Có {len(unstored)} bản ghi chưa lưu được vào kho.")
    check = await last_check(db, s.id)
    if check is None:
        reasons.append("Bản ghi chưa được kiểm tra toàn vẹn.")
    elif not check.ok:
        reasons.append("Lần kiểm tra toàn vẹn gần nhất phát hiện sai lệch.")
    elif any(check.file_ok(r) is None for r in records):
        reasons.append("Có bản ghi thay đổi sau lần kiểm tra toàn vẹn gần nhất: hãy kiểm tra lại.")
    return Archivable(reasons)


async def archive_session(db: AsyncSession, ctx: AuditContext, session_id: int) -> ReceptionSession:
    """Move an ended session to `archived`, or Conflict with every reason it may not."""
    assert ctx.principal is not None
    s = await get_session(db, ctx.principal, session_id)
    ready = await archivable(db, s)
    if not ready.ready:
        raise Conflict(
            "Chưa lưu trữ được phiên: " + " ".join(ready.reasons), {"state": ready.reasons[0]}
        )
    s = await update_session(db, ctx.principal, s.id, SessionInput(state=SessionState.ARCHIVED))
    await audit.record(db, ctx, ARCHIVE_ACTION, "session", s.id, s.unit_id, {"session_id": s.id})
    return s
