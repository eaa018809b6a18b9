"""Reception sessions: their endpoints, attendees and agenda."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from sessions import identity
from sessions.access import Principal
from sessions.audit import AuditContext
from sessions.errors import Conflict, Invalid, NotFound
from sessions.models import (
    Account,
    AgendaCitizen,
    AgendaItem,
    Attendee,
    CaseParty,
    Citizen,
    Endpoint,
    ReceptionSession,
    Role,
    SessionEndpoint,
    SessionKind,
    SessionState,
    Unit,
)
from sessions.paging import Page, PageRequest, contains, paginate
from sessions.text import nfc, nfc_text, search_key
from sessions.units import in_scope, scoped_unit

# The moves a session may make; the scheduling and bridge code ask for them by name.
TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    SessionState.DRAFT: frozenset({SessionState.SCHEDULED, SessionState.CANCELLED}),
    SessionState.SCHEDULED: frozenset(
        {SessionState.DRAFT, SessionState.LIVE, SessionState.CANCELLED}
    ),
    SessionState.LIVE: frozenset({SessionState.ENDED}),
    SessionState.ENDED: frozenset({SessionState.ARCHIVED}),
    SessionState.ARCHIVED: frozenset(),
    SessionState.CANCELLED: frozenset(),
}
EDITABLE = frozenset({SessionState.DRAFT, SessionState.SCHEDULED})

_LOAD = (
    selectinload(ReceptionSession.endpoints),
    selectinload(ReceptionSession.attendees),
    selectinload(ReceptionSession.agenda).selectinload(AgendaItem.citizens),
)


def visible(p: Principal) -> Any:
    """Sessions the principal sees: those of its units, those it chairs or attends, and
    (for focal staff) those its endpoint takes part in."""
    mine = or_(
        ReceptionSession.chair_id == p.account_id,
        ReceptionSession.id.in_(
            select(Attendee.session_id).where(Attendee.account_id == p.account_id)
        ),
    )
    if p.only_own_endpoint:
        ep = p.endpoint_id if p.endpoint_id is not None else -1
        return or_(
            mine,
            ReceptionSession.central_endpoint_id == ep,
            ReceptionSession.id.in_(
                select(SessionEndpoint.session_id).where(SessionEndpoint.endpoint_id == ep)
            ),
        )
    return or_(mine, ReceptionSession.unit_id.in_(select(Unit.id).where(in_scope(p))))


async def list_sessions(
    db: AsyncSession,
    p: Principal,
    req: PageRequest,
    state: SessionState | None = None,
    starts_from: datetime | None = None,
    starts_before: datetime | None = None,
) -> Page[ReceptionSession]:
    stmt = select(ReceptionSession).where(visible(p)).order_by(ReceptionSession.starts_at.desc())
    if req.q:
        stmt = stmt.where(contains(ReceptionSession.title_key, search_key(req.q)))
    if state is not None:
        stmt = stmt.where(ReceptionSession.state == state)
    if starts_from is not None:
        stmt = stmt.where(ReceptionSession.starts_at >= starts_from)
    if starts_before is not None:
        stmt = stmt.where(ReceptionSession.starts_at < starts_before)
    return await paginate(db, stmt, req)


async def get_session(db: AsyncSession, p: Principal, session_id: int) -> ReceptionSession:
    row = await db.scalar(
        select(ReceptionSession)
        .options(*_LOAD)
        .where(ReceptionSession.id == session_id, visible(p))
    )
    if row is None:
        raise NotFound(f"Không tìm thấy phiên tiếp công dân #{session_id}.")
    return row


@dataclass(frozen=True, slots=True)
class AttendeeInput:
    account_id: int | None = None
    guest_name: str = ""
    guest_organization: str = ""
    capacity: str = ""


@dataclass(frozen=True, slots=True)
class AgendaInput:
    case_id: int
    endpoint_id: int
    citizen_ids: tuple[int, ...] = ()
    notes: str = ""


@dataclass(frozen=True, slots=True)
class SessionInput:
    title: str | None = None
    kind: SessionKind | None = None
    unit_id: int | None = None
    chair_id: int | None = None
    central_endpoint_id: int | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    notes: str | None = None
    endpoint_ids: tuple[int, ...] | None = None
    attendees: tuple[AttendeeInput, ...] | None = None
    agenda: tuple[AgendaInput, ...] | None = None
    state: SessionState | None = None
    extra: dict[str, Any] = field(default_factory=dict)


async def _endpoint(db: AsyncSession, p: Principal, endpoint_id: int, fld: str) -> Endpoint:
    ep = await db.get(Endpoint, endpoint_id)
    if ep is None:
        raise Invalid("Điểm cầu không tồn tại.", {fld: f"không có điểm cầu #{endpoint_id}"})
    if not ep.active:
        raise Conflict(
            f"Điểm cầu {ep.name} đang ngừng hoạt động.", {fld: "điểm cầu ngừng hoạt động"}
        )
    return ep


async def _chair(db: AsyncSession, p: Principal, chair_id: int) -> Account:
    chair = await db.get(Account, chair_id)
    if chair is None or not chair.active:
        raise Invalid(
            "Người chủ trì không tồn tại.", {"chair_id": f"không có tài khoản #{chair_id}"}
        )
    unit = await db.get(Unit, chair.unit_id)
    assert unit is not None
    if not p.unit_path.startswith(unit.path) and not p.sees_unit(unit.path):
        raise Invalid("Người chủ trì thuộc đơn vị khác.", {"chair_id": "ngoài phạm vi"})
    if Role.LEADER not in chair.role_set:
        raise Invalid("Người chủ trì phải là lãnh đạo.", {"chair_id": "không có vai trò lãnh đạo"})
    return chair


async def _check_attendees(
    db: AsyncSession, p: Principal, items: tuple[AttendeeInput, ...]
) -> None:
    for i, a in enumerate(items):
        fld = f"attendees[{i}]"
        if a.account_id is None:
            if not a.guest_name.strip():
                raise Invalid("Khách mời cần có họ tên.", {f"{fld}.guest_name": "bắt buộc"})
            continue
        acc = await db.get(Account, a.account_id)
        unit = await db.get(Unit, acc.unit_id) if acc else None
        if acc is None or unit is None:
            raise Invalid(
                "Tài khoản không tồn tại.", {f"{fld}.account_id": f"không có #{a.account_id}"}
            )
        # Same province: the tree has one root; an attendee must sit in the organizer's tree.
        if unit.path.split("/")[1] != p.unit_path.split("/")[1]:
            raise Invalid("Người tham dự thuộc tỉnh khác.", {f"{fld}.account_id": "ngoài tỉnh"})


async def _check_agenda(
    db: AsyncSession, p: Principal, items: tuple[AgendaInput, ...], endpoint_ids: set[int]
) -> None:
    from sessions.cases import get_case_row  # cases import nothing from here

    errors: dict[str, str] = {}
    for i, item in enumerate(items):
        fld = f"agenda[{i}]"
        try:
            case = await get_case_row(db, p, item.case_id)
        except NotFound:
            errors[f"{fld}.case_id"] = f"không có hồ sơ #{item.case_id}"
            continue
        if case.status.value == "closed":
            raise Conflict(
                f"Hồ sơ {case.code} đã kết thúc.", {f"{fld}.case_id": "hồ sơ đã kết thúc"}
            )
        if item.endpoint_id not in endpoint_ids:
            errors[f"{fld}.endpoint_id"] = "không thuộc các điểm cầu của phiên"
        parties = set(
            await db.scalars(select(CaseParty.citizen_id).where(CaseParty.case_id == case.id))
        )
        # A citizen hidden from the caller is unknown to it, with the same answer as a
        # citizen who is no party: which ids pass would tell who the denouncer is.
        known = await identity.referable(db, p, parties, case.id)
        for cid in item.citizen_ids:
            if cid not in known:
                errors[f"{fld}.citizen_ids"] = f"#{cid} không thuộc hồ sơ"
    if errors:
        raise Invalid("Chương trình tiếp công dân không hợp lệ.", errors)


async def _hidden_on_agenda(
    db: AsyncSession, p: Principal, s: ReceptionSession
) -> dict[int, set[int]]:
    """Citizens on the current agenda that `p` may not see, by case: an agenda it rewrites
    keeps them (it cannot remove what it cannot see, nor learn it from the answer)."""
    out: dict[int, set[int]] = {}
    for item in s.agenda:
        ids = {c.citizen_id for c in item.citizens}
        hidden = ids - await identity.referable(db, p, ids, item.case_id)
        if hidden:
            out.setdefault(item.case_id, set()).update(hidden)
    return out


async def _validate(
    db: AsyncSession, p: Principal, s: ReceptionSession, data: SessionInput
) -> None:
    if s.ends_at <= s.starts_at:
        raise Invalid("Giờ kết thúc phải sau giờ bắt đầu.", {"ends_at": "phải sau starts_at"})
    await _chair(db, p, s.chair_id)
    central = await _endpoint(db, p, s.central_endpoint_id, "central_endpoint_id")
    if not central.is_central:
        raise Invalid(
            "Điểm cầu trung tâm không hợp lệ.",
            {"central_endpoint_id": "không phải điểm cầu trung tâm"},
        )
    ids = (
        data.endpoint_ids
        if data.endpoint_ids is not None
        else tuple(e.endpoint_id for e in s.endpoints)
    )
    for i, eid in enumerate(ids):
        await _endpoint(db, p, eid, f"endpoint_ids[{i}]")
    if data.attendees is not None:
        await _check_attendees(db, p, data.attendees)
    if data.agenda is not None:
        await _check_agenda(db, p, data.agenda, {*ids, central.id})


def _apply_children(
    s: ReceptionSession, data: SessionInput, keep: dict[int, set[int]] | None = None
) -> None:
    if data.endpoint_ids is not None:
        s.endpoints = [SessionEndpoint(endpoint_id=e) for e in dict.fromkeys(data.endpoint_ids)]
    if data.attendees is not None:
        s.attendees = [
            Attendee(
                account_id=a.account_id,
                guest_name=nfc(a.guest_name),
                guest_organization=nfc(a.guest_organization),
                capacity=nfc(a.capacity),
            )
            for a in data.attendees
        ]
    if data.agenda is not None:
        s.agenda = [
            AgendaItem(
                position=i + 1,
                case_id=a.case_id,
                endpoint_id=a.endpoint_id,
                notes=nfc_text(a.notes),
                citizens=[
                    AgendaCitizen(citizen_id=c)
                    for c in dict.fromkeys(
                        [*a.citizen_ids, *sorted((keep or {}).get(a.case_id, ()))]
                    )
                ],
            )
            for i, a in enumerate(data.agenda)
        ]


async def create_session(db: AsyncSession, p: Principal, data: SessionInput) -> ReceptionSession:
    missing = {
        f: "bắt buộc"
        for f in (
            "title",
            "kind",
            "unit_id",
            "chair_id",
            "central_endpoint_id",
            "starts_at",
            "ends_at",
        )
        if getattr(data, f) in (None, "")
    }
    if missing:
        raise Invalid("Thiếu thông tin phiên tiếp công dân.", missing)
    assert data.title and data.kind and data.unit_id and data.chair_id and data.central_endpoint_id
    assert data.starts_at and data.ends_at
    await scoped_unit(db, p, data.unit_id, "unit_id")
    state = data.state or SessionState.DRAFT
    if state not in (SessionState.DRAFT, SessionState.SCHEDULED):
        raise Invalid(
            "Phiên mới chỉ ở trạng thái nháp hoặc đã lên lịch.", {"state": "draft hoặc scheduled"}
        )
    title = nfc(data.title)
    s = ReceptionSession(
        title=title,
        title_key=search_key(title),
        kind=data.kind,
        state=state,
        unit_id=data.unit_id,
        chair_id=data.chair_id,
        central_endpoint_id=data.central_endpoint_id,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        notes=nfc_text(data.notes or ""),
        created_by_id=p.account_id,
        endpoints=[],
        attendees=[],
        agenda=[],
    )
    await _validate(db, p, s, data)
    _apply_children(s, data)
    db.add(s)
    await db.flush()
    return s


async def update_session(
    db: AsyncSession, p: Principal, session_id: int, data: SessionInput
) -> ReceptionSession:
    s = await get_session(db, p, session_id)
    if data.state is not None and data.state != s.state and data.state not in TRANSITIONS[s.state]:
        raise Conflict(
            f"Không thể chuyển phiên từ {s.state.value} sang {data.state.value}.",
            {"state": f"không được chuyển từ {s.state.value}"},
        )
    changes_plan = any(
        getattr(data, f) is not None
        for f in (
            "title",
            "kind",
            "unit_id",
            "chair_id",
            "central_endpoint_id",
            "starts_at",
            "ends_at",
            "endpoint_ids",
            "attendees",
            "agenda",
        )
    )
    if changes_plan and s.state not in EDITABLE:
        raise Conflict("Phiên đã diễn ra hoặc đã hủy, không sửa được.", {"state": s.state.value})
    if data.unit_id is not None and data.unit_id != s.unit_id:
        await scoped_unit(db, p, data.unit_id, "unit_id")
        s.unit_id = data.unit_id
    if data.title is not None:
        s.title = nfc(data.title)
        s.title_key = search_key(s.title)
    for attr in ("kind", "chair_id", "central_endpoint_id", "starts_at", "ends_at"):
        value = getattr(data, attr)
        if value is not None:
            setattr(s, attr, value)
    if data.notes is not None:
        s.notes = nfc_text(data.notes)
    if changes_plan:
        # Only a changed plan is checked again: an endpoint or chair switched off since
        # must not keep a live session from ending.
        await _validate(db, p, s, data)
    keep: dict[int, set[int]] = {}
    if data.agenda is not None:
        keep = await _hidden_on_agenda(db, p, s)
        # The old items go first: the new ones take the same positions (unique per session).
        s.agenda = []
        await db.flush()
    _apply_children(s, data, keep)
    if data.state is not None:
        s.state = data.state
    await db.flush()
    return s


@dataclass(frozen=True, slots=True)
class HeardView:
    """The citizens heard in one agenda item, as one account may see them."""

    citizens: tuple[Citizen, ...]  # those shown
    withheld: bool  # someone heard (or the protected case's parties) is withheld


async def agenda_views(
    db: AsyncSession, ctx: AuditContext, s: ReceptionSession, surface: str
) -> dict[int, HeardView]:
    """Per agenda item id: who is heard, decided by `sessions.identity` in the context of the
    item's case (a shown protected citizen is audited)."""
    from sessions.cases import get_case_row, is_cleared

    assert ctx.principal is not None
    out: dict[int, HeardView] = {}
    for item in s.agenda:
        ids = [c.citizen_id for c in item.citizens]
        shown = await identity.identities(db, ctx, ids, surface=surface, case_id=item.case_id)
        withheld = any(c is None for c in shown.values())
        try:
            case = await get_case_row(db, ctx.principal, item.case_id)
            if identity.is_protected_case(case):
                withheld = withheld or not await is_cleared(db, ctx.principal, case.id)
        except NotFound:  # a case of a unit the caller does not see: nothing of it is shown
            withheld = True
        out[item.id] = HeardView(tuple(c for c in shown.values() if c is not None), withheld)
    return out
