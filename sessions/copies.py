"""A citizen's copy of the recording of their own reception (DOMAIN: asked in writing; before
it is handed over, staff check it reveals no denouncer's identity and no other citizen's
denunciation; the hand-over is recorded).

A copy is one case's hearing in one ended session, asked by one of the case's citizens. The
check is the system's (`identity.copy_hazards`: what the segment would reveal to that
citizen) and the officer's, who watches the copy and says so; an approved copy is rendered as
the composite video of that case's segment, and only a finished file is handed over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import exports, identity
from sessions.access import Principal
from sessions.cases import get_case_row
from sessions.errors import Conflict, Invalid, NotFound
from sessions.models import (
    AgendaItem,
    CaseParty,
    CopyState,
    ExportRecord,
    ExportState,
    ReceptionSession,
    RecordingCopy,
    SessionState,
)
from sessions.text import nfc

LIMITS = {"request_ref": 200, "check_note": 2000, "recipient_name": 200, "medium": 200}
HEARD_STATES = (SessionState.ENDED, SessionState.ARCHIVED)


@dataclass(frozen=True, slots=True)
class CopyRequest:
    session_id: int | None
    citizen_id: int | None
    requested_on: date | None
    request_ref: str


def _text(value: str, name: str, errors: dict[str, str], required: bool = False) -> str:
    text = nfc(value).strip()
    if required and not text:
        errors[name] = "bắt buộc"
    elif len(text) > LIMITS[name]:
        errors[name] = f"tối đa {LIMITS[name]} ký tự"
    return text


async def request_copy(
    db: AsyncSession, p: Principal, case_id: int, data: CopyRequest, today: date
) -> RecordingCopy:
    """Record a citizen's written request; every problem at once (Invalid with its fields)."""
    await get_case_row(db, p, case_id)
    errors: dict[str, str] = {}
    ref = _text(data.request_ref, "request_ref", errors)
    if data.requested_on is None:
        errors["requested_on"] = "bắt buộc"
    elif data.requested_on > today:
        errors["requested_on"] = "không được sau ngày hôm nay"
    if data.citizen_id is None:
        errors["citizen_id"] = "bắt buộc"
    elif (
        await db.scalar(
            select(CaseParty.citizen_id).where(
                CaseParty.case_id == case_id, CaseParty.citizen_id == data.citizen_id
            )
        )
        is None
    ):
        errors["citizen_id"] = "công dân không có trong hồ sơ"
    if data.session_id is None:
        errors["session_id"] = "bắt buộc"
    elif data.session_id not in {s.id for s in await heard_in(db, case_id)}:
        errors["session_id"] = "hồ sơ không được tiếp trong một phiên đã kết thúc này"
    if errors:
        raise Invalid("Yêu cầu bản sao chưa hợp lệ.", errors)
    assert data.session_id is not None and data.citizen_id is not None
    assert data.requested_on is not None
    row = RecordingCopy(
        case_id=case_id,
        session_id=data.session_id,
        citizen_id=data.citizen_id,
        requested_on=data.requested_on,
        request_ref=ref,
        state=CopyState.REQUESTED,
        created_by_id=p.account_id,
    )
    db.add(row)
    await db.flush()
    return row


async def heard_in(db: AsyncSession, case_id: int) -> list[ReceptionSession]:
    """The ended sessions whose agenda had the case, newest first."""
    return list(
        await db.scalars(
            select(ReceptionSession)
            .join(AgendaItem, AgendaItem.session_id == ReceptionSession.id)
            .where(AgendaItem.case_id == case_id, ReceptionSession.state.in_(HEARD_STATES))
            .order_by(ReceptionSession.starts_at.desc())
            .distinct()
        )
    )


async def party_ids(db: AsyncSession, case_id: int) -> list[int]:
    """The case's citizens, who alone may ask for a copy of its hearing."""
    return list(
        await db.scalars(
            select(CaseParty.citizen_id)
            .where(CaseParty.case_id == case_id)
            .order_by(CaseParty.citizen_id)
        )
    )


async def list_copies(db: AsyncSession, case_id: int) -> list[RecordingCopy]:
    return list(
        await db.scalars(
            select(RecordingCopy)
            .where(RecordingCopy.case_id == case_id)
            .order_by(RecordingCopy.id.desc())
        )
    )


async def get_copy(db: AsyncSession, p: Principal, case_id: int, copy_id: int) -> RecordingCopy:
    await get_case_row(db, p, case_id)
    row = await db.get(RecordingCopy, copy_id)
    if row is None or row.case_id != case_id:
        raise NotFound(f"Không tìm thấy yêu cầu bản sao #{copy_id} của hồ sơ này.")
    return row


async def check_copy(
    db: AsyncSession,
    p: Principal,
    case_id: int,
    copy_id: int,
    approve: bool,
    watched: bool,
    note: str,
    now: datetime,
) -> tuple[RecordingCopy, list[str]]:
    """The check before hand-over. The officer approves (having watched the copy) or
    refuses (saying why). What the system finds refuses the copy whatever the officer
    chose, its reasons kept in the note. Approved, the case's segment is queued for
    rendering (its export row; the caller submits it to the export worker). Returns the
    copy and the system's reasons to refuse it."""
    row = await get_copy(db, p, case_id, copy_id)
    if row.state is not CopyState.REQUESTED:
        raise Conflict("Yêu cầu này đã được kiểm tra.", {"state": "đã kiểm tra"})
    errors: dict[str, str] = {}
    text = _text(note, "check_note", errors)
    hazards = await identity.copy_hazards(db, row.session_id, case_id, row.citizen_id)
    if approve and not hazards and not watched:
        errors["watched"] = "hãy xem lại toàn bộ bản sao và đánh dấu xác nhận"
    if not approve and not text:
        errors["check_note"] = "hãy ghi lý do không giao bản sao"
    if errors:
        raise Invalid("Chưa kiểm tra xong bản sao.", errors)
    row.checked_by_id = p.account_id
    row.checked_at = now
    if hazards or not approve:
        row.state = CopyState.REFUSED
        row.check_note = "\n".join([*hazards, text]).strip()
        return row, hazards
    await exports.stored_tracks(db, row.session_id)  # Conflict: nothing recorded
    span = await exports.case_range(db, row.session_id, case_id)
    job = await exports.create_export(db, row.session_id, case_id, p.account_id, span)
    row.export_id = job.id
    row.state = CopyState.APPROVED
    row.check_note = text
    return row, []


async def hand_over(
    db: AsyncSession,
    p: Principal,
    case_id: int,
    copy_id: int,
    recipient: str,
    medium: str,
    now: datetime,
) -> RecordingCopy:
    row = await get_copy(db, p, case_id, copy_id)
    if row.state is not CopyState.APPROVED:
        raise Conflict(
            "Chỉ giao bản sao đã được kiểm tra và chấp thuận.", {"state": "chưa chấp thuận"}
        )
    job = await db.get(ExportRecord, row.export_id) if row.export_id else None
    if job is None or job.state is not ExportState.DONE:
        raise Conflict(
            "Bản sao chưa xuất xong: hãy chờ tệp video hoàn tất rồi giao.",
            {"export": "chưa xuất xong"},
        )
    errors: dict[str, str] = {}
    who = _text(recipient, "recipient_name", errors, required=True)
    how = _text(medium, "medium", errors, required=True)
    if errors:
        raise Invalid("Chưa đủ thông tin bàn giao.", errors)
    row.recipient_name = who
    row.medium = how
    row.handed_over_by_id = p.account_id
    row.handed_over_at = now
    row.state = CopyState.HANDED_OVER
    return row
