"""Who takes which seat in a live session, and its timed events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import identity
from sessions.access import WITHHELD, Principal
from sessions.errors import Conflict, Forbidden
from sessions.models import (
    AgendaItem,
    CaseFile,
    Endpoint,
    ReceptionSession,
    Role,
    SessionEvent,
    SessionState,
)
from sessions.receptions import SessionInput, get_session, update_session


@dataclass(frozen=True, slots=True)
class Seat:
    """Where an account sits in a live session and whether it runs it."""

    session_id: int
    endpoint_id: int
    endpoint_name: str
    is_central: bool
    may_chair: bool


async def seat_for(db: AsyncSession, p: Principal, session_id: int) -> Seat:
    """The caller's seat; NotFound when the session is not theirs to see, Forbidden when they
    have no place in it, Conflict when it is not live."""
    s = await get_session(db, p, session_id)
    if s.state is not SessionState.LIVE:
        raise Conflict(
            "Phiên tiếp công dân chưa bắt đầu hoặc đã kết thúc.", {"state": s.state.value}
        )
    attendee = any(a.account_id == p.account_id for a in s.attendees)
    chairs = s.chair_id == p.account_id or (Role.RECEPTION_OFFICER in p.roles)
    at_central = chairs or attendee or p.endpoint_id == s.central_endpoint_id
    if at_central:
        endpoint_id = s.central_endpoint_id
    elif p.endpoint_id is not None and p.endpoint_id in {e.endpoint_id for e in s.endpoints}:
        endpoint_id = p.endpoint_id
    else:
        raise Forbidden("Tài khoản của bạn không tham dự phiên tiếp công dân này.")
    ep = await db.get(Endpoint, endpoint_id)
    assert ep is not None
    return Seat(s.id, ep.id, ep.name, ep.is_central, chairs)


def opens_at(s: ReceptionSession, lead: timedelta) -> datetime:
    """The earliest moment a scheduled session may be opened."""
    return s.starts_at - lead


async def move_session(
    db: AsyncSession,
    p: Principal,
    session_id: int,
    target: SessionState,
    now: datetime,
    lead: timedelta,
    tz: tzinfo,
) -> ReceptionSession:
    """Open (make live) or close a session: its chair, or a reception officer who sees it.
    A session opens no earlier than `lead` before its start (Conflict naming `starts_at`)."""
    s = await get_session(db, p, session_id)
    if s.chair_id != p.account_id and Role.RECEPTION_OFFICER not in p.roles:
        raise Forbidden("Chỉ người chủ trì hoặc cán bộ tiếp công dân mở, đóng phiên.")
    if target is SessionState.LIVE and s.state is SessionState.SCHEDULED:
        earliest = opens_at(s, lead)
        if now < earliest:
            local = earliest.astimezone(tz)
            minutes = int(lead.total_seconds() // 60)
            raise Conflict(
                f"Chưa đến giờ mở phiên: phiên được mở từ {local:%H:%M} ngày {local:%d/%m/%Y}"
                f" ({minutes} phút trước giờ bắt đầu).",
                {"starts_at": f"chỉ mở được từ {local:%H:%M %d/%m/%Y}"},
            )
    return await update_session(db, p, session_id, SessionInput(state=target))


async def add_event(
    db: AsyncSession,
    session_id: int,
    at: datetime,
    kind: str,
    participant_id: str = "",
    account_id: int | None = None,
    endpoint_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> SessionEvent:
    row = SessionEvent(
        session_id=session_id,
        at=at,
        kind=kind,
        participant_id=participant_id,
        account_id=account_id,
        endpoint_id=endpoint_id,
        data=data or {},
    )
    db.add(row)
    await db.flush()
    return row


async def list_events(db: AsyncSession, session_id: int) -> list[SessionEvent]:
    rows = await db.scalars(
        select(SessionEvent)
        .where(SessionEvent.session_id == session_id)
        .order_by(SessionEvent.at, SessionEvent.id)
    )
    return list(rows)


async def agenda_display(db: AsyncSession, item: AgendaItem) -> dict[str, Any]:
    """What every participant is shown of the case now being heard. The same message goes to
    everyone in the room, so it is decided for an audience with no clearance: a protected
    citizen (a denouncer here or on any other case) is never named."""
    case = await db.get(CaseFile, item.case_id)
    assert case is not None
    ids = [c.citizen_id for c in item.citizens]
    shown = await identity.identities(db, None, ids, surface="room", case_id=case.id)
    names = [c.full_name for c in shown.values() if c is not None]
    withheld = identity.is_protected_case(case) or any(c is None for c in shown.values())
    if withheld:
        names.append(WITHHELD)
    return {
        "item_id": item.id,
        "position": item.position,
        "case_id": case.id,
        "case_code": case.code,
        "case_title": case.title,
        "citizens": names,
        "endpoint_id": item.endpoint_id,
        "identity_withheld": withheld,
    }


def step_agenda(
    s: ReceptionSession, current_item_id: int | None, action: str, goto: int | None
) -> AgendaItem | None:
    """The agenda item after `action` ("next", "previous", "goto") from the current one."""
    items = list(s.agenda)
    if not items:
        return None
    if action == "goto":
        return next((i for i in items if i.id == goto), None)
    ids = [i.id for i in items]
    if current_item_id not in ids:
        return items[0] if action == "next" else None
    k = ids.index(current_item_id) + (1 if action == "next" else -1)
    return items[k] if 0 <= k < len(items) else None
