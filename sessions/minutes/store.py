"""Versions of the minutes: start one, save its draft, finalize it, verify its hash.

A version is a draft until the session's chair finalizes it (Circular 04/2021: the person
who received the citizens signs the minutes). Finalizing freezes the facts, stamps who and
when, and keeps the SHA-256 of the whole version (`digest`); from then on every write is a
Conflict (409) and the only way to change what it says is a new version that supersedes it.
Functions take a session and never commit."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, event, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, UOWTransaction, selectinload

from sessions import identity
from sessions.access import Perm, Principal
from sessions.errors import Conflict, Forbidden, Invalid, NotFound
from sessions.minutes.facts import gather
from sessions.models import (
    AgendaItem,
    CaseFile,
    Minutes,
    MinutesDirection,
    MinutesState,
    ReceptionSession,
    SessionState,
    Unit,
)
from sessions.receptions import get_session
from sessions.text import nfc_text

# The server's limits; the page forms' maxlength repeat them.
LIMITS = {
    "presented": 20_000,
    "documents_received": 5_000,
    "conclusions": 20_000,
    "body": 20_000,
    "direction": 1_000,
}
MAX_DIRECTIONS = 50
# Minutes are written of what happened: once the session has ended.
WRITABLE_SESSIONS = frozenset({SessionState.ENDED, SessionState.ARCHIVED})
TEXT_PARTS = ("presented", "documents_received", "conclusions", "body")


@dataclass(frozen=True, slots=True)
class DirectionInput:
    unit_id: int
    text: str
    due_on: date | None = None


@dataclass(frozen=True, slots=True)
class MinutesInput:
    presented: str = ""
    documents_received: str = ""
    conclusions: str = ""
    body: str = ""
    directions: tuple[DirectionInput, ...] = ()


def _load() -> Select[Minutes]:
    return select(Minutes).options(selectinload(Minutes.directions))


async def list_versions(db: AsyncSession, p: Principal, session_id: int) -> list[Minutes]:
    """Every version of the session's minutes and of its items' (NotFound when the session
    is not the caller's to see), by item then version."""
    await get_session(db, p, session_id)
    rows = await db.scalars(
        _load().where(Minutes.session_id == session_id).order_by(Minutes.item_key, Minutes.version)
    )
    return list(rows)


async def get_minutes(db: AsyncSession, p: Principal, minutes_id: int) -> Minutes:
    row = await db.scalar(_load().where(Minutes.id == minutes_id))
    if row is None:
        raise NotFound(f"Không tìm thấy biên bản #{minutes_id}.")
    try:
        await get_session(db, p, row.session_id)
    except NotFound:
        raise NotFound(f"Không tìm thấy biên bản #{minutes_id}.") from None
    return row


async def case_of(db: AsyncSession, m: Minutes) -> CaseFile | None:
    """The case an item's minutes are of (None for the session's own minutes)."""
    if m.agenda_item_id is None:
        return None
    item = await db.get(AgendaItem, m.agenda_item_id)
    return await db.get(CaseFile, item.case_id) if item is not None else None


async def may_write_case_part(db: AsyncSession, p: Principal, case: CaseFile | None) -> bool:
    """What a citizen presented in a denunciation is the denouncer's material: only an
    account cleared for the case writes or reads it (`identity.may_see_case_material`)."""
    return case is None or await identity.may_see_case_material(db, p, case)


async def _writable_session(db: AsyncSession, p: Principal, session_id: int) -> ReceptionSession:
    p.require(Perm.CASES_WRITE)
    s = await get_session(db, p, session_id)
    if s.state not in WRITABLE_SESSIONS:
        raise Conflict(
            "Biên bản được lập sau khi phiên tiếp công dân kết thúc.",
            {"state": "phiên chưa kết thúc"},
        )
    return s


def _item(s: ReceptionSession, agenda_item_id: int | None) -> AgendaItem | None:
    if agenda_item_id is None:
        return None
    item = next((i for i in s.agenda if i.id == agenda_item_id), None)
    if item is None:
        raise Invalid(
            "Mục này không thuộc chương trình của phiên.",
            {"agenda_item_id": "không thuộc chương trình của phiên"},
        )
    return item


async def _guard_case(db: AsyncSession, p: Principal, item: AgendaItem | None) -> None:
    case = await db.get(CaseFile, item.case_id) if item is not None else None
    if not await may_write_case_part(db, p, case):
        raise Forbidden(
            "Hồ sơ tố cáo: chỉ người được cấp quyền mới lập biên bản của vụ việc này.",
            {"agenda_item_id": "cần được cấp quyền xem hồ sơ tố cáo"},
        )


async def latest(db: AsyncSession, session_id: int, item_key: int) -> Minutes | None:
    return await db.scalar(
        _load()
        .where(Minutes.session_id == session_id, Minutes.item_key == item_key)
        .order_by(Minutes.version.desc())
        .limit(1)
    )


async def _check(db: AsyncSession, data: MinutesInput) -> list[MinutesDirection]:
    """Every problem of the input at once (Invalid by field), or the direction rows."""
    errors: dict[str, str] = {}
    for part in TEXT_PARTS:
        if len(getattr(data, part)) > LIMITS[part]:
            errors[part] = f"tối đa {LIMITS[part]} ký tự"
    if len(data.directions) > MAX_DIRECTIONS:
        errors["directions"] = f"tối đa {MAX_DIRECTIONS} ý kiến chỉ đạo"
    rows = []
    for i, d in enumerate(data.directions[:MAX_DIRECTIONS]):
        unit = await db.get(Unit, d.unit_id)
        if unit is None or not unit.active:
            errors[f"directions[{i}].unit_id"] = "không có đơn vị này"
        text = nfc_text(d.text)
        if not text:
            errors[f"directions[{i}].text"] = "hãy ghi nội dung chỉ đạo"
        elif len(text) > LIMITS["direction"]:
            errors[f"directions[{i}].text"] = f"tối đa {LIMITS['direction']} ký tự"
        if unit is not None:
            rows.append(
                MinutesDirection(
                    position=i + 1, unit_id=unit.id, unit_name=unit.name, text=text, due_on=d.due_on
                )
            )
    if errors:
        raise Invalid("Biên bản chưa lưu: hãy sửa các trường được đánh dấu.", errors)
    return rows


def _apply(m: Minutes, data: MinutesInput, rows: list[MinutesDirection]) -> None:
    for part in TEXT_PARTS:
        setattr(m, part, nfc_text(getattr(data, part)))
    m.directions = rows


def _locked(m: Minutes) -> Conflict:
    return Conflict(
        f"Biên bản phiên bản {m.version} đã hoàn tất và được niêm phong: không sửa được. "
        "Hãy lập phiên bản mới thay thế.",
        {"state": "đã hoàn tất"},
    )


async def start_version(
    db: AsyncSession,
    p: Principal,
    session_id: int,
    agenda_item_id: int | None,
    data: MinutesInput | None = None,
) -> Minutes:
    """A new draft: version 1, or the next one superseding the final version (its text
    copied to amend, unless `data` says otherwise). While a draft exists it is the one to
    edit: Conflict naming `minutes_id`."""
    s = await _writable_session(db, p, session_id)
    item = _item(s, agenda_item_id)
    await _guard_case(db, p, item)
    key = item.id if item is not None else 0
    last = await latest(db, s.id, key)
    if last is not None and last.state is MinutesState.DRAFT:
        raise Conflict(
            f"Đã có bản nháp phiên bản {last.version}: hãy sửa bản nháp đó.",
            {"minutes_id": str(last.id)},
        )
    if data is None and last is not None:
        data = MinutesInput(
            last.presented,
            last.documents_received,
            last.conclusions,
            last.body,
            tuple(DirectionInput(d.unit_id, d.text, d.due_on) for d in last.directions),
        )
    rows = await _check(db, data or MinutesInput())
    m = Minutes(
        session_id=s.id,
        agenda_item_id=item.id if item is not None else None,
        item_key=key,
        version=(last.version + 1) if last is not None else 1,
        supersedes_id=last.id if last is not None else None,
        revision=1,
        author_id=p.account_id,
        facts=await gather(db, s, item),
        state=MinutesState.DRAFT,
        directions=[],
    )
    _apply(m, data or MinutesInput(), rows)
    db.add(m)
    await db.flush()
    return m


async def save_draft(
    db: AsyncSession, p: Principal, minutes_id: int, revision: int | None, data: MinutesInput
) -> Minutes:
    """Save a draft in place. A final version: Conflict. A draft someone saved since the
    caller read it (`revision` behind): Conflict naming `revision`, nothing written."""
    m = await get_minutes(db, p, minutes_id)
    if m.state is MinutesState.LOCKED:
        raise _locked(m)
    s = await _writable_session(db, p, m.session_id)
    item = _item(s, m.agenda_item_id)
    await _guard_case(db, p, item)
    if revision is not None and revision != m.revision:
        raise Conflict(
            "Bản nháp vừa được người khác lưu: hãy mở lại bản nháp, xem nội dung mới rồi sửa.",
            {"revision": f"bản nháp đã ở lần lưu thứ {m.revision}"},
        )
    rows = await _check(db, data)
    m.directions = []
    await db.flush()  # the old rows go first: the new ones take the same positions
    _apply(m, data, rows)
    m.revision += 1
    m.author_id = p.account_id
    m.facts = await gather(db, s, item)
    await db.flush()
    return m


async def finalize(db: AsyncSession, p: Principal, minutes_id: int, now: datetime) -> Minutes:
    """The chair of the session finalizes a draft: facts frozen, hash kept, locked."""
    m = await get_minutes(db, p, minutes_id)
    if m.state is MinutesState.LOCKED:
        raise _locked(m)
    s = await get_session(db, p, m.session_id)
    if s.chair_id != p.account_id:
        raise Forbidden(
            "Chỉ người chủ trì phiên tiếp công dân hoàn tất biên bản.",
            {"confirm": "chỉ người chủ trì phiên"},
        )
    if s.state not in WRITABLE_SESSIONS:
        raise Conflict("Phiên chưa kết thúc.", {"state": "phiên chưa kết thúc"})
    m.facts = await gather(db, s, _item(s, m.agenda_item_id))
    m.state = MinutesState.LOCKED
    m.locked_at = now
    m.finalized_by_id = p.account_id
    m.sha256 = digest(m)
    await db.flush()
    return m


@event.listens_for(Session, "before_flush")
def _locked_stays_locked(session: Session, flush: UOWTransaction, instances: object) -> None:
    """Below the store's own checks: no flush writes over a final version or its
    directions, whatever code asks (a final version is superseded, never edited)."""
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, MinutesDirection):
            parent = session.get(Minutes, obj.minutes_id) if obj.minutes_id else None
            if parent is not None and _was_locked(parent):
                raise _locked(parent)
        elif (
            isinstance(obj, Minutes)
            and _was_locked(obj)
            and (obj in session.deleted or session.is_modified(obj, include_collections=False))
        ):
            raise _locked(obj)


def _was_locked(m: Minutes) -> bool:
    history = inspect(m).attrs.state.history
    before = history.deleted[0] if history.deleted else m.state
    return before is MinutesState.LOCKED and inspect(m).persistent


# The hash --------------------------------------------------------------------------------


def content(m: Minutes) -> dict[str, Any]:
    """Everything a version says, as the hash covers it."""
    return {
        "id": m.id,
        "session_id": m.session_id,
        "agenda_item_id": m.agenda_item_id,
        "version": m.version,
        "supersedes_id": m.supersedes_id,
        "facts": m.facts,
        **{part: getattr(m, part) for part in TEXT_PARTS},
        "directions": [
            {
                "position": d.position,
                "unit_id": d.unit_id,
                "unit_name": d.unit_name,
                "text": d.text,
                "due_on": d.due_on.isoformat() if d.due_on else None,
            }
            for d in m.directions
        ],
        "finalized_by_id": m.finalized_by_id,
        "locked_at": m.locked_at.isoformat() if m.locked_at else None,
    }


def canonical(m: Minutes) -> bytes:
    return json.dumps(content(m), ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode(
        "utf-8"
    )


def digest(m: Minutes) -> str:
    return hashlib.sha256(canonical(m)).hexdigest()


def verifies(m: Minutes) -> bool | None:
    """Whether a final version still says what it said when locked (None: a draft)."""
    if m.state is not MinutesState.LOCKED or m.sha256 is None:
        return None
    return digest(m) == m.sha256


def superseded(versions: list[Minutes]) -> dict[int, Minutes]:
    """Final versions by id that a later final version supersedes, with that version (a
    draft replacing one replaces nothing until the chair finalizes it)."""
    by_id = {m.id: m for m in versions}
    return {
        m.supersedes_id: m
        for m in versions
        if m.supersedes_id in by_id and m.state is MinutesState.LOCKED
    }


async def for_case(db: AsyncSession, p: Principal, case_id: int) -> list[Minutes]:
    """The minutes attached to a case file: every version of its items' minutes, and of the
    minutes of the sessions that heard it, in the sessions the caller sees."""
    from sessions.receptions import visible

    items = select(AgendaItem.id).where(AgendaItem.case_id == case_id)
    heard_in = select(AgendaItem.session_id).where(AgendaItem.case_id == case_id)
    seen = select(ReceptionSession.id).where(visible(p))
    rows = await db.scalars(
        _load()
        .where(
            Minutes.session_id.in_(seen),
            Minutes.agenda_item_id.in_(items)
            | (Minutes.agenda_item_id.is_(None) & Minutes.session_id.in_(heard_in)),
        )
        .order_by(Minutes.session_id, Minutes.item_key, Minutes.version)
    )
    return list(rows)
