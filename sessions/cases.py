"""Citizens and case files, and the protection of a denouncer's identity."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.access import CLEARABLE_ROLES, PROTECTED_KINDS, Principal
from sessions.errors import Conflict, Forbidden, Invalid, NotFound
from sessions.models import (
    Account,
    CaseClearance,
    CaseFile,
    CaseKind,
    CaseParty,
    CaseStatus,
    Citizen,
    CitizenRole,
    SubjectArea,
    Unit,
    utcnow,
)
from sessions.paging import Page, PageRequest, contains, paginate
from sessions.text import nfc, nfc_text, search_key
from sessions.units import in_scope, scoped_unit

ID_NUMBER_RE = re.compile(r"^[0-9]{9}$|^[0-9]{12}$")  # CMND (9) or CCCD (12 digits)
CASE_CODE_RE = re.compile(r"^[A-Za-z0-9./_-]{1,40}$")


def _unit_scope(column: Any, p: Principal) -> Any:
    return column.in_(select(Unit.id).where(in_scope(p)))


def _cleared(p: Principal) -> Any:
    return select(CaseClearance.case_id).where(CaseClearance.account_id == p.account_id)


def withheld_citizens(p: Principal) -> Any:
    """Ids of citizens who are party to a protected case the principal is not cleared for."""
    return (
        select(CaseParty.citizen_id)
        .join(CaseFile, CaseFile.id == CaseParty.case_id)
        .where(CaseFile.kind.in_(PROTECTED_KINDS), CaseParty.case_id.not_in(_cleared(p)))
    )


async def is_cleared(db: AsyncSession, p: Principal, case_id: int) -> bool:
    row = await db.get(CaseClearance, (case_id, p.account_id))
    return row is not None


# Citizens -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CitizenView:
    citizen: Citizen
    withheld: bool
    # Party to a protected case: shown only to cleared accounts, and each view is audited.
    protected: bool = False


async def list_citizens(db: AsyncSession, p: Principal, req: PageRequest) -> Page[CitizenView]:
    # Withheld citizens come last, in id order: sorting them by name would hint at it.
    is_hidden = Citizen.id.in_(withheld_citizens(p))
    stmt = (
        select(Citizen)
        .where(_unit_scope(Citizen.unit_id, p))
        .order_by(
            case((is_hidden, 1), else_=0),
            case((is_hidden, Citizen.id), else_=0),
            Citizen.name_key,
            Citizen.id,
        )
    )
    if req.q:
        # A search must not match a withheld identity: a hit alone would reveal it.
        key = search_key(req.q)
        stmt = stmt.where(
            or_(contains(Citizen.name_key, key), Citizen.id_number == req.q.strip()),
            Citizen.id.not_in(withheld_citizens(p)),
        )
    page = await paginate(db, stmt, req)
    ids = [c.id for c in page.items]
    hidden, protected = await _withheld_among(db, p, ids), await _protected_among(db, ids)
    return Page(
        [CitizenView(c, c.id in hidden, c.id in protected) for c in page.items],
        page.total,
        page.page,
        page.per_page,
    )


async def _protected_among(db: AsyncSession, ids: list[int]) -> set[int]:
    if not ids:
        return set()
    rows = await db.scalars(
        select(CaseParty.citizen_id)
        .join(CaseFile, CaseFile.id == CaseParty.case_id)
        .where(CaseFile.kind.in_(PROTECTED_KINDS), CaseParty.citizen_id.in_(ids))
    )
    return set(rows)


async def _withheld_among(db: AsyncSession, p: Principal, ids: list[int]) -> set[int]:
    if not ids:
        return set()
    rows = await db.scalars(withheld_citizens(p).where(CaseParty.citizen_id.in_(ids)))
    return set(rows)


async def get_citizen(db: AsyncSession, p: Principal, citizen_id: int) -> CitizenView:
    row = await db.scalar(
        select(Citizen).where(Citizen.id == citizen_id, _unit_scope(Citizen.unit_id, p))
    )
    if row is None:
        raise NotFound(f"Không tìm thấy công dân #{citizen_id}.")
    return CitizenView(
        row,
        bool(await _withheld_among(db, p, [row.id])),
        bool(await _protected_among(db, [row.id])),
    )


@dataclass(frozen=True, slots=True)
class CitizenInput:
    full_name: str | None = None
    id_number: str | None = None
    address: str | None = None
    phone: str | None = None
    unit_id: int | None = None


def _check_id_number(value: str) -> str:
    value = value.strip()
    if value and not ID_NUMBER_RE.match(value):
        raise Invalid("Số giấy tờ tùy thân không hợp lệ.", {"id_number": "9 hoặc 12 chữ số"})
    return value


async def create_citizen(db: AsyncSession, p: Principal, data: CitizenInput) -> Citizen:
    if not data.full_name or data.unit_id is None:
        raise Invalid("Thiếu thông tin công dân.", {"full_name": "bắt buộc", "unit_id": "bắt buộc"})
    await scoped_unit(db, p, data.unit_id, "unit_id")
    name = nfc(data.full_name)
    row = Citizen(
        full_name=name,
        name_key=search_key(name),
        id_number=_check_id_number(data.id_number or ""),
        address=nfc(data.address or ""),
        phone=(data.phone or "").strip(),
        unit_id=data.unit_id,
    )
    db.add(row)
    await db.flush()
    return row


async def update_citizen(
    db: AsyncSession, p: Principal, citizen_id: int, data: CitizenInput
) -> Citizen:
    view = await get_citizen(db, p, citizen_id)
    if view.withheld:
        raise Forbidden("Thông tin người tố cáo được bảo mật; bạn không được sửa hồ sơ này.")
    row = view.citizen
    if data.full_name is not None:
        row.full_name = nfc(data.full_name)
        row.name_key = search_key(row.full_name)
    if data.id_number is not None:
        row.id_number = _check_id_number(data.id_number)
    if data.address is not None:
        row.address = nfc(data.address)
    if data.phone is not None:
        row.phone = data.phone.strip()
    if data.unit_id is not None and data.unit_id != row.unit_id:
        await scoped_unit(db, p, data.unit_id, "unit_id")
        row.unit_id = data.unit_id
    await db.flush()
    return row


# Case files -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PartyView:
    citizen: Citizen | None  # None when withheld
    citizen_id: int | None  # None when withheld: even the id links records
    role: CitizenRole


@dataclass(frozen=True, slots=True)
class CaseView:
    case: CaseFile
    protected: bool
    cleared: bool
    parties: list[PartyView]

    @property
    def identity_withheld(self) -> bool:
        return self.protected and not self.cleared


def _case_scope(p: Principal) -> Any:
    return _unit_scope(CaseFile.handling_unit_id, p)


async def list_cases(
    db: AsyncSession,
    p: Principal,
    req: PageRequest,
    kind: CaseKind | None = None,
    status: CaseStatus | None = None,
) -> Page[CaseFile]:
    stmt = (
        select(CaseFile)
        .where(_case_scope(p))
        .order_by(CaseFile.created_at.desc(), CaseFile.id.desc())
    )
    if req.q:
        key = search_key(req.q)
        stmt = stmt.where(
            or_(contains(CaseFile.title_key, key), contains(CaseFile.code, req.q.strip()))
        )
    if kind is not None:
        stmt = stmt.where(CaseFile.kind == kind)
    if status is not None:
        stmt = stmt.where(CaseFile.status == status)
    return await paginate(db, stmt, req)


async def get_case_row(db: AsyncSession, p: Principal, case_id: int) -> CaseFile:
    row = await db.scalar(select(CaseFile).where(CaseFile.id == case_id, _case_scope(p)))
    if row is None:
        raise NotFound(f"Không tìm thấy hồ sơ vụ việc #{case_id}.")
    return row


async def get_case(db: AsyncSession, p: Principal, case_id: int) -> CaseView:
    case = await get_case_row(db, p, case_id)
    protected = case.kind in PROTECTED_KINDS
    cleared = await is_cleared(db, p, case.id)
    rows = await db.execute(
        select(CaseParty, Citizen)
        .join(Citizen, Citizen.id == CaseParty.citizen_id)
        .where(CaseParty.case_id == case.id)
        .order_by(CaseParty.citizen_id)
    )
    pairs = [(party, citizen) for party, citizen in rows]
    # A citizen may also be the denouncer of another case: withheld here too, or linking
    # them to an ordinary case would reveal them.
    hidden = await _withheld_among(db, p, [c.id for _, c in pairs])
    show = not protected or cleared
    parties = [
        PartyView(citizen, citizen.id, party.role)
        if show and citizen.id not in hidden
        else PartyView(None, None, party.role)
        for party, citizen in pairs
    ]
    return CaseView(case, protected, cleared, parties)


@dataclass(frozen=True, slots=True)
class PartyInput:
    citizen_id: int
    role: CitizenRole = CitizenRole.PETITIONER


@dataclass(frozen=True, slots=True)
class CaseInput:
    code: str | None = None
    kind: CaseKind | None = None
    subject_area: SubjectArea | None = None
    title: str | None = None
    summary: str | None = None
    status: CaseStatus | None = None
    handling_unit_id: int | None = None
    national_code: str | None = None
    parties: tuple[PartyInput, ...] | None = None


async def _check_parties(db: AsyncSession, p: Principal, parties: tuple[PartyInput, ...]) -> None:
    seen: set[int] = set()
    for i, party in enumerate(parties):
        field = f"parties[{i}].citizen_id"
        if party.citizen_id in seen:
            raise Invalid("Công dân bị lặp trong danh sách.", {field: "bị lặp"})
        seen.add(party.citizen_id)
        citizen = await db.scalar(
            select(Citizen).where(Citizen.id == party.citizen_id, _unit_scope(Citizen.unit_id, p))
        )
        if citizen is None:
            raise Invalid(
                "Công dân không tồn tại.", {field: f"không có công dân #{party.citizen_id}"}
            )


async def _check_code(db: AsyncSession, code: str, own_id: int | None) -> None:
    if not CASE_CODE_RE.match(code):
        raise Invalid("Mã hồ sơ không hợp lệ.", {"code": "chữ, số và . / _ - (tối đa 40 ký tự)"})
    other = await db.scalar(select(CaseFile).where(CaseFile.code == code))
    if other is not None and other.id != own_id:
        raise Conflict(f"Mã hồ sơ {code!r} đã được dùng.", {"code": "đã tồn tại"})


async def create_case(db: AsyncSession, p: Principal, data: CaseInput) -> CaseFile:
    missing = {
        f: "bắt buộc"
        for f, v in (
            ("kind", data.kind),
            ("subject_area", data.subject_area),
            ("title", data.title),
            ("handling_unit_id", data.handling_unit_id),
        )
        if not v
    }
    if missing:
        raise Invalid("Thiếu thông tin hồ sơ.", missing)
    assert data.kind and data.subject_area and data.title and data.handling_unit_id
    await scoped_unit(db, p, data.handling_unit_id, "handling_unit_id")
    if data.code:
        await _check_code(db, data.code, None)
    parties = data.parties or ()
    await _check_parties(db, p, parties)
    title = nfc(data.title)
    case = CaseFile(
        code=data.code or f"tmp-{utcnow().timestamp()}",
        kind=data.kind,
        subject_area=data.subject_area,
        title=title,
        title_key=search_key(title),
        summary=nfc_text(data.summary or ""),
        status=data.status or CaseStatus.RECEIVED,
        handling_unit_id=data.handling_unit_id,
        national_code=(data.national_code or "").strip() or None,
        created_by_id=p.account_id,
        parties=[CaseParty(citizen_id=x.citizen_id, role=x.role) for x in parties],
    )
    db.add(case)
    await db.flush()
    if not data.code:
        case.code = f"HS-{utcnow().year}-{case.id:06d}"
    if case.kind in PROTECTED_KINDS and p.clearable:
        # Whoever receives a denunciation is, by that fact, handling it.
        db.add(CaseClearance(case_id=case.id, account_id=p.account_id, granted_by_id=p.account_id))
    await db.flush()
    return case


async def update_case(db: AsyncSession, p: Principal, case_id: int, data: CaseInput) -> CaseFile:
    case = await get_case_row(db, p, case_id)
    protected = case.kind in PROTECTED_KINDS
    cleared = await is_cleared(db, p, case.id)
    if data.parties is not None and protected and not cleared:
        raise Forbidden("Bạn không được xem hay sửa danh tính người tố cáo của hồ sơ này.")
    if data.kind is not None and protected and not cleared and data.kind not in PROTECTED_KINDS:
        # Reclassifying would lift the protection: only those cleared may judge that.
        raise Forbidden(
            "Chỉ người được phép xem danh tính mới đổi được loại của hồ sơ tố cáo.",
            {"kind": "cần được cấp quyền xem hồ sơ"},
        )
    if data.kind in PROTECTED_KINDS and not protected and p.clearable and not cleared:
        # As on creation: whoever makes it a denunciation is handling it.
        db.add(CaseClearance(case_id=case.id, account_id=p.account_id, granted_by_id=p.account_id))
    if data.code is not None and data.code != case.code:
        await _check_code(db, data.code, case.id)
        case.code = data.code
    if data.title is not None:
        case.title = nfc(data.title)
        case.title_key = search_key(case.title)
    if data.summary is not None:
        case.summary = nfc_text(data.summary)
    for attr in ("kind", "subject_area", "status"):
        value = getattr(data, attr)
        if value is not None:
            setattr(case, attr, value)
    if data.handling_unit_id is not None and data.handling_unit_id != case.handling_unit_id:
        await scoped_unit(db, p, data.handling_unit_id, "handling_unit_id")
        case.handling_unit_id = data.handling_unit_id
    if data.national_code is not None:
        case.national_code = data.national_code.strip() or None
    if data.parties is not None:
        await _check_parties(db, p, data.parties)
        await db.refresh(case, ["parties"])
        case.parties = [CaseParty(citizen_id=x.citizen_id, role=x.role) for x in data.parties]
    await db.flush()
    return case


async def grant_clearance(
    db: AsyncSession, p: Principal, case_id: int, account_id: int
) -> CaseClearance:
    case = await get_case_row(db, p, case_id)
    if case.kind not in PROTECTED_KINDS:
        raise Invalid("Hồ sơ này không có thông tin cần bảo mật.", {"case_id": "không phải tố cáo"})
    if not p.clearable or not await is_cleared(db, p, case.id):
        raise Forbidden("Chỉ người đã được phép xem hồ sơ mới cấp quyền cho người khác.")
    target = await db.scalar(
        select(Account).where(Account.id == account_id, _unit_scope(Account.unit_id, p))
    )
    if target is None:
        raise Invalid(
            "Tài khoản không tồn tại.", {"account_id": f"không có tài khoản #{account_id}"}
        )

    if not target.role_set & CLEARABLE_ROLES:
        raise Invalid(
            "Chỉ lãnh đạo chủ trì và cán bộ tiếp công dân được cấp quyền.",
            {"account_id": "vai trò không phù hợp"},
        )
    existing = await db.get(CaseClearance, (case.id, account_id))
    if existing is not None:
        return existing
    row = CaseClearance(case_id=case.id, account_id=account_id, granted_by_id=p.account_id)
    db.add(row)
    await db.flush()
    return row
