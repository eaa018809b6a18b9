"""Reception sessions: their endpoints, attendees and agenda."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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
    CaseFile,
    CaseParty,
    CaseStatus,
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


# How the fields are named to a person: messages say these, never the API's field names.
LABELS = {
    "title": "Tên phiên",
    "kind": "Hình thức",
    "unit_id": "Đơn vị tổ chức",
    "chair_id": "Người chủ trì",
    "central_endpoint_id": "Điểm cầu trung tâm",
    "starts_at": "Giờ bắt đầu",
    "ends_at": "Giờ kết thúc",
    "notes": "Ghi chú",
    "endpoint_ids": "Điểm cầu tham gia",
    "attendees": "Thành phần tham dự",
    "agenda": "Chương trình tiếp",
    "state": "Trạng thái",
}
STATE_WORDS = {
    SessionState.DRAFT: "nháp",
    SessionState.SCHEDULED: "đã lên lịch",
    SessionState.LIVE: "đang diễn ra",
    SessionState.ENDED: "đã kết thúc",
    SessionState.ARCHIVED: "đã lưu trữ",
    SessionState.CANCELLED: "đã hủy",
}


class Problems:
    """Every problem of one input, by field, raised once: a form shows them all at once.
    A refusal of the plan itself (an endpoint switched off, a double booking, a closed case)
    is a Conflict when nothing else is wrong; any invalid input makes it all Invalid."""

    def __init__(self, known: dict[str, str] | None = None) -> None:
        self.fields: dict[str, str] = dict(known or {})
        self.sentences: list[str] = []
        self.invalid = bool(self.fields)

    def add(self, fld: str, text: str, sentence: str = "", conflict: bool = False) -> None:
        if fld in self.fields:
            return  # the first word on a field stands (a value that did not parse, say)
        self.fields[fld] = text
        self.sentences.append(sentence or f"{_label(fld)}: {text}.")
        self.invalid = self.invalid or not conflict

    def has(self, fld: str) -> bool:
        return any(k == fld or k.startswith(fld + "[") for k in self.fields)

    def raise_any(self) -> None:
        if not self.fields:
            return
        # Each problem in a sentence; fields the caller found reading the input (`known`)
        # have none of their own.
        unsaid = len(self.fields) - len(self.sentences)
        message = " ".join(self.sentences)
        if unsaid:
            message = f"Dữ liệu không hợp lệ ({unsaid} trường). {message}".strip()
        raise (Invalid if self.invalid else Conflict)(message, dict(self.fields))


def _label(fld: str) -> str:
    return LABELS.get(fld.split("[")[0].split(".")[0], "Thông tin")


# A check the caller adds to the store's own (scheduling: no past start, no double booking),
# run on the plan as it would be saved, with the endpoints it would use.
PlanCheck = Callable[[AsyncSession, ReceptionSession, tuple[int, ...], Problems], Awaitable[None]]


async def _endpoint(
    db: AsyncSession, endpoint_id: int, fld: str, problems: Problems
) -> Endpoint | None:
    ep = await db.get(Endpoint, endpoint_id)
    if ep is None:
        problems.add(fld, f"không có điểm cầu #{endpoint_id}")
        return None
    if not ep.active:
        problems.add(
            fld,
            f"điểm cầu {ep.name} đang ngừng hoạt động",
            f"Điểm cầu {ep.name} đang ngừng hoạt động.",
            conflict=True,
        )
        return None
    return ep


async def _chair(db: AsyncSession, p: Principal, chair_id: int, problems: Problems) -> None:
    chair = await db.get(Account, chair_id)
    if chair is None or not chair.active:
        problems.add("chair_id", f"không có tài khoản #{chair_id}")
        return
    unit = await db.get(Unit, chair.unit_id)
    assert unit is not None
    if not p.unit_path.startswith(unit.path) and not p.sees_unit(unit.path):
        problems.add("chair_id", "thuộc đơn vị ngoài phạm vi của bạn")
    elif Role.LEADER not in chair.role_set:
        problems.add("chair_id", f"{chair.full_name} không có vai trò lãnh đạo chủ trì")


async def _check_attendees(
    db: AsyncSession, p: Principal, items: tuple[AttendeeInput, ...], problems: Problems
) -> None:
    for i, a in enumerate(items):
        fld = f"attendees[{i}]"
        if a.account_id is None:
            if not a.guest_name.strip():
                problems.add(f"{fld}.guest_name", "khách mời cần có họ tên")
            continue
        acc = await db.get(Account, a.account_id)
        unit = await db.get(Unit, acc.unit_id) if acc else None
        if acc is None or unit is None:
            problems.add(f"{fld}.account_id", f"không có tài khoản #{a.account_id}")
        # Same province: the tree has one root; an attendee must sit in the organizer's tree.
        elif unit.path.split("/")[1] != p.unit_path.split("/")[1]:
            problems.add(f"{fld}.account_id", "người tham dự thuộc tỉnh khác")


async def _check_agenda(
    db: AsyncSession,
    p: Principal,
    items: tuple[AgendaInput, ...],
    endpoint_ids: set[int],
    problems: Problems,
) -> None:
    from sessions.cases import get_case_row  # cases import nothing from here

    for i, item in enumerate(items):
        fld = f"agenda[{i}]"
        try:
            case = await get_case_row(db, p, item.case_id)
        except NotFound:
            problems.add(f"{fld}.case_id", f"không có hồ sơ #{item.case_id}")
            continue
        if case.status.value == "closed":
            problems.add(
                f"{fld}.case_id",
                f"hồ sơ {case.code} đã kết thúc",
                f"Hồ sơ {case.code} đã kết thúc.",
                conflict=True,
            )
        if item.endpoint_id not in endpoint_ids:
            problems.add(f"{fld}.endpoint_id", "không thuộc các điểm cầu của phiên")
        parties = set(
            await db.scalars(select(CaseParty.citizen_id).where(CaseParty.case_id == case.id))
        )
        # A citizen hidden from the caller is unknown to it, with the same answer as a
        # citizen who is no party: which ids pass would tell who the denouncer is.
        known = await identity.referable(db, p, parties, case.id)
        for cid in item.citizen_ids:
            if cid not in known:
                problems.add(f"{fld}.citizen_ids", f"#{cid} không thuộc hồ sơ")


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
    db: AsyncSession,
    p: Principal,
    s: ReceptionSession,
    data: SessionInput,
    problems: Problems,
    check: PlanCheck | None,
) -> None:
    """Every check of the plan, each on what it needs: a missing or bad value (already in
    `problems`) skips the checks that need it and no other."""
    times = s.starts_at is not None and s.ends_at is not None
    if times and not problems.has("starts_at") and s.ends_at <= s.starts_at:
        problems.add("ends_at", "phải sau giờ bắt đầu", "Giờ kết thúc phải sau giờ bắt đầu.")
    if s.chair_id is not None:
        await _chair(db, p, s.chair_id, problems)
    central = None
    if s.central_endpoint_id is not None:
        central = await _endpoint(db, s.central_endpoint_id, "central_endpoint_id", problems)
        if central is not None and not central.is_central:
            problems.add("central_endpoint_id", f"{central.name} không phải điểm cầu trung tâm")
    ids = (
        data.endpoint_ids
        if data.endpoint_ids is not None
        else tuple(e.endpoint_id for e in s.endpoints)
    )
    for i, eid in enumerate(ids):
        await _endpoint(db, eid, f"endpoint_ids[{i}]", problems)
    if data.attendees is not None:
        await _check_attendees(db, p, data.attendees, problems)
    if data.agenda is not None:
        await _check_agenda(db, p, data.agenda, {*ids, s.central_endpoint_id or 0}, problems)
    if check is not None:
        await check(db, s, tuple(ids), problems)
    problems.raise_any()


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


REQUIRED = ("title", "kind", "chair_id", "central_endpoint_id", "starts_at", "ends_at")


async def _unit_for(
    db: AsyncSession, p: Principal, data: SessionInput, problems: Problems
) -> int | None:
    """The unit named, or else the central endpoint's unit (the board that runs it), or else,
    when that is outside the caller's units, the caller's own unit: a session of a unit the
    caller does not see would vanish from its lists the moment it is saved."""
    if data.unit_id is not None:
        try:
            await scoped_unit(db, p, data.unit_id, "unit_id")
        except Invalid as exc:
            problems.add("unit_id", exc.fields.get("unit_id", "không tồn tại"))
        return data.unit_id
    if data.central_endpoint_id is None:
        return None
    central = await db.get(Endpoint, data.central_endpoint_id)
    if central is None:
        return None  # named by the endpoint's own check
    unit = await db.get(Unit, central.unit_id)
    return central.unit_id if unit is not None and p.sees_unit(unit.path) else p.unit_id


async def create_session(
    db: AsyncSession,
    p: Principal,
    data: SessionInput,
    check: PlanCheck | None = None,
    known: dict[str, str] | None = None,
) -> ReceptionSession:
    """A new session; every problem of `data` (and those the caller found reading it,
    `known`, and those `check` finds) is raised at once, before anything is written."""
    problems = Problems(known)
    for f in REQUIRED:
        if getattr(data, f) in (None, ""):
            problems.add(f, "bắt buộc", f"{LABELS[f]}: bắt buộc.")
    state = data.state or SessionState.DRAFT
    if state not in (SessionState.DRAFT, SessionState.SCHEDULED):
        problems.add("state", "phiên mới chỉ được ở trạng thái nháp hoặc đã lên lịch")
    unit_id = await _unit_for(db, p, data, problems)
    title = nfc(data.title or "")
    s = ReceptionSession(
        title=title,
        title_key=search_key(title),
        kind=data.kind,
        state=state,
        unit_id=unit_id,
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
    await _validate(db, p, s, data, problems, check)
    _apply_children(s, data)
    db.add(s)
    await db.flush()
    return s


PLAN_FIELDS = (
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


async def update_session(
    db: AsyncSession,
    p: Principal,
    session_id: int,
    data: SessionInput,
    check: PlanCheck | None = None,
    known: dict[str, str] | None = None,
) -> ReceptionSession:
    s = await get_session(db, p, session_id)
    if data.state is not None and data.state != s.state and data.state not in TRANSITIONS[s.state]:
        raise Conflict(
            f"Không thể chuyển phiên từ trạng thái “{STATE_WORDS[s.state]}” "
            f"sang “{STATE_WORDS[data.state]}”.",
            {"state": f"không chuyển được từ “{STATE_WORDS[s.state]}”"},
        )
    changes_plan = any(getattr(data, f) is not None for f in PLAN_FIELDS)
    if changes_plan and s.state not in EDITABLE:
        raise Conflict(
            "Phiên đã diễn ra hoặc đã hủy, không sửa được.",
            {"state": f"phiên {STATE_WORDS[s.state]}"},
        )
    problems = Problems(known)
    if data.title is not None and not data.title.strip():
        problems.add("title", "không được để trống")
    if data.unit_id is not None and data.unit_id != s.unit_id:
        try:
            await scoped_unit(db, p, data.unit_id, "unit_id")
            s.unit_id = data.unit_id
        except Invalid as exc:
            problems.add("unit_id", exc.fields.get("unit_id", "không tồn tại"))
    if data.title is not None:
        s.title = nfc(data.title)
        s.title_key = search_key(s.title)
    for attr in ("kind", "chair_id", "central_endpoint_id", "starts_at", "ends_at"):
        value = getattr(data, attr)
        if value is not None:
            setattr(s, attr, value)
    if data.notes is not None:
        s.notes = nfc_text(data.notes)
    if changes_plan or problems.fields:
        # Only a changed plan is checked again: an endpoint or chair switched off since
        # must not keep a live session from ending.
        await _validate(db, p, s, data, problems, check)
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


# Cases an agenda may take -----------------------------------------------------------------

MAX_CANDIDATES = 20


async def agenda_candidates(
    db: AsyncSession, p: Principal, q: str, limit: int = MAX_CANDIDATES
) -> list[CaseFile]:
    """Open cases of the caller's units found by code, title or a citizen's name, diacritics
    ignored. A name matches only citizens the caller may see (`identity.hidden_from`): a hit
    on a withheld denouncer's name would say who denounced."""
    key, raw = search_key(q), q.strip()
    if not key and not raw:
        return []
    named = (
        select(CaseParty.case_id)
        .join(Citizen, Citizen.id == CaseParty.citizen_id)
        .where(contains(Citizen.name_key, key), Citizen.id.not_in(identity.hidden_from(p)))
    )
    found = [contains(CaseFile.code, raw)]
    if key:
        found += [contains(CaseFile.title_key, key), CaseFile.id.in_(named)]
    stmt = (
        select(CaseFile)
        .where(
            CaseFile.handling_unit_id.in_(select(Unit.id).where(in_scope(p))),
            CaseFile.status != CaseStatus.CLOSED,
            or_(*found),
        )
        .order_by(CaseFile.created_at.desc(), CaseFile.id.desc())
        .limit(limit)
    )
    return list(await db.scalars(stmt))
