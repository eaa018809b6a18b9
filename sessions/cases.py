"""Citizens and case files, and the protection of a denouncer's identity."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import identity
from sessions.access import CLEARABLE_ROLES, Principal
from sessions.audit import AuditContext
from sessions.errors import Conflict, Forbidden, Invalid, NotFound
from sessions.groups import representatives_problem
from sessions.identity import PROTECTED_KINDS
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
MAX_DUPLICATES = 20


def _unit_scope(column: Any, p: Principal) -> Any:
    return column.in_(select(Unit.id).where(in_scope(p)))


async def is_cleared(db: AsyncSession, p: Principal, case_id: int) -> bool:
    row = await db.get(CaseClearance, (case_id, p.account_id))
    return row is not None


# Citizens -------------------------------------------------------------------------------
#
# Whether an identity may be shown is `sessions.identity`'s decision: a citizen hidden from
# the caller is not listed, not found and not referable (as another unit's data is); a
# protected citizen the caller may see is shown and the view audited.


@dataclass(frozen=True, slots=True)
class CitizenView:
    citizen: Citizen
    withheld: bool = False  # protected: the caller may reveal it, with a reason
    # Party to a protected case: shown only to cleared accounts on asking, each view audited.
    protected: bool = False


async def list_citizens(db: AsyncSession, ctx: AuditContext, req: PageRequest) -> Page[CitizenView]:
    p = _who(ctx)
    stmt = (
        select(Citizen)
        .where(_unit_scope(Citizen.unit_id, p), Citizen.id.not_in(identity.hidden_from(p)))
        .order_by(Citizen.name_key, Citizen.id)
    )
    if req.q:
        key = search_key(req.q)
        stmt = stmt.where(or_(contains(Citizen.name_key, key), Citizen.id_number == req.q.strip()))
    page = await paginate(db, stmt, req)
    # A protected citizen the caller may see is listed withheld: it is revealed on asking.
    decision = await identity.disclose(db, ctx, [c.id for c in page.items], surface="citizen-list")
    hidden = decision.revealable
    return Page(
        [CitizenView(c, c.id in hidden, c.id in hidden) for c in page.items],
        page.total,
        page.page,
        page.per_page,
    )


def _who(ctx: AuditContext) -> Principal:
    assert ctx.principal is not None, "a signed-in account reads citizens"
    return ctx.principal


async def citizen_row(db: AsyncSession, p: Principal, citizen_id: int) -> Citizen:
    """The citizen if `p` may see (and so refer to) them; NotFound otherwise."""
    row = await db.scalar(
        select(Citizen).where(
            Citizen.id == citizen_id,
            _unit_scope(Citizen.unit_id, p),
            Citizen.id.not_in(identity.hidden_from(p)),
        )
    )
    if row is None:
        raise NotFound(f"Không tìm thấy công dân #{citizen_id}.")
    return row


async def get_citizen(
    db: AsyncSession, ctx: AuditContext, citizen_id: int, reveal: str | None = None
) -> CitizenView:
    row = await citizen_row(db, _who(ctx), citizen_id)
    decision = await identity.disclose(db, ctx, [row.id], surface="citizen", reveal=reveal)
    if reveal is not None and not decision.protected:
        raise Invalid("Công dân này không có danh tính được bảo mật.", {"reason": "không cần"})
    withheld = row.id in decision.revealable
    return CitizenView(row, withheld, withheld or row.id in decision.protected)


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
    row = await citizen_row(db, p, citizen_id)
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


async def possible_duplicates(
    db: AsyncSession, p: Principal, data: CitizenInput, exclude_id: int | None = None
) -> list[Citizen]:
    """Citizens already recorded with the same ID number, or the same name and address
    (diacritics and case ignored), among those `p` may see: a citizen hidden from `p` is not
    hinted at, not even by "a duplicate exists"."""
    id_number = (data.id_number or "").strip()
    name_key = search_key(data.full_name or "")
    address_key = search_key(data.address or "")
    conditions = []
    if id_number:
        conditions.append(Citizen.id_number == id_number)
    if name_key:
        conditions.append(Citizen.name_key == name_key)
    if not conditions:
        return []
    stmt = (
        select(Citizen)
        .where(
            or_(*conditions),
            _unit_scope(Citizen.unit_id, p),
            Citizen.id.not_in(identity.hidden_from(p)),
        )
        .order_by(Citizen.id)
    )
    if exclude_id is not None:
        stmt = stmt.where(Citizen.id != exclude_id)
    out = []
    for row in await db.scalars(stmt):
        same_id = bool(id_number) and row.id_number == id_number
        same_place = row.name_key == name_key and search_key(row.address) == address_key
        if same_id or same_place:
            out.append(row)
    return out[:MAX_DUPLICATES]


# Case files -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PartyView:
    citizen: Citizen | None  # None when withheld
    citizen_id: int | None  # None when withheld and not revealable: even the id links records
    role: CitizenRole
    revealable: bool = False  # withheld, but the caller may reveal it by asking


@dataclass(frozen=True, slots=True)
class CaseView:
    case: CaseFile
    protected: bool
    cleared: bool
    parties: list[PartyView]
    revealed: bool = False  # protected identities shown in this answer (audited)

    @property
    def identity_withheld(self) -> bool:
        return any(x.citizen is None for x in self.parties) or (self.protected and not self.cleared)

    @property
    def revealable(self) -> bool:
        return any(x.revealable for x in self.parties)


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


async def get_case(
    db: AsyncSession, ctx: AuditContext, case_id: int, reveal: str | None = None
) -> CaseView:
    """The case as the account of `ctx` may see it: each party shown or withheld by
    `sessions.identity` in the context of this case. A protected party is withheld on
    arrival even from a cleared account, which reveals it by asking with a reason (`reveal`:
    then audited)."""
    p = _who(ctx)
    case = await get_case_row(db, p, case_id)
    protected = identity.is_protected_case(case)
    cleared = await is_cleared(db, p, case.id)
    parties = list(
        await db.scalars(
            select(CaseParty).where(CaseParty.case_id == case.id).order_by(CaseParty.citizen_id)
        )
    )
    decision = await identity.disclose(
        db, ctx, [x.citizen_id for x in parties], surface="case", case_id=case.id, reveal=reveal
    )
    if reveal is not None and not decision.protected:
        raise Forbidden(
            "Hồ sơ không có danh tính được bảo mật mà tài khoản của bạn được phép xem.",
            {"reason": "không có gì để xem thêm"},
        )
    rows = {
        c.id: c for c in await db.scalars(select(Citizen).where(Citizen.id.in_(decision.shown)))
    }
    views = [
        PartyView(rows[x.citizen_id], x.citizen_id, x.role, False)
        if x.citizen_id in rows
        # A revealable party's id is the caller's to know; a withheld one's links records.
        else PartyView(
            None,
            x.citizen_id if x.citizen_id in decision.revealable else None,
            x.role,
            x.citizen_id in decision.revealable,
        )
        for x in parties
    ]
    return CaseView(case, protected, cleared, views, revealed=bool(decision.protected))


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
    # 0 clears it: not a group.
    group_size: int | None = None
    parties: tuple[PartyInput, ...] | None = None


async def _check_parties(
    db: AsyncSession,
    p: Principal,
    parties: tuple[PartyInput, ...],
    case_id: int | None,
    group_size: int | None = None,
) -> None:
    """Every party exists, is in the caller's units and is one the caller may see: a citizen
    hidden from it is unknown, with the same answer as an id that does not exist. A group
    has as many representatives as `sessions.groups` allows (every problem told at once)."""
    seen: set[int] = set()
    errors: dict[str, str] = {}
    reps = sum(1 for x in parties if x.role is CitizenRole.REPRESENTATIVE)
    if (problem := representatives_problem(group_size, reps)) is not None:
        errors["group_size"] = problem
    ids = [x.citizen_id for x in parties]
    known = set(
        await db.scalars(
            select(Citizen.id).where(Citizen.id.in_(ids), _unit_scope(Citizen.unit_id, p))
        )
    )
    known &= await identity.referable(db, p, known, case_id)
    for i, party in enumerate(parties):
        field = f"parties[{i}].citizen_id"
        if party.citizen_id in seen:
            errors[field] = "bị lặp"
        elif party.citizen_id not in known:
            errors[field] = f"không có công dân #{party.citizen_id}"
        seen.add(party.citizen_id)
    if errors:
        raise Invalid("Danh sách công dân của hồ sơ không hợp lệ.", errors)


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
    await _check_parties(db, p, parties, None, data.group_size or None)
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
        group_size=data.group_size or None,
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
    if data.parties is not None and not await _sees_every_party(db, p, case.id):
        # Replacing the list would drop (or, by its answer, reveal) a party hidden from them.
        raise Forbidden(
            "Bạn không được xem hay sửa danh tính người tố cáo của hồ sơ này.",
            {"parties": "cần được cấp quyền xem hồ sơ"},
        )
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
    if data.group_size is not None:
        case.group_size = data.group_size or None
    if data.parties is not None or data.group_size is not None:
        await db.refresh(case, ["parties"])
        parties = data.parties
        if parties is None:
            parties = tuple(PartyInput(x.citizen_id, x.role) for x in case.parties)
        await _check_parties(db, p, parties, case.id, case.group_size)
        if data.parties is not None:
            case.parties = [CaseParty(citizen_id=x.citizen_id, role=x.role) for x in parties]
    await db.flush()
    return case


async def _sees_every_party(db: AsyncSession, p: Principal, case_id: int) -> bool:
    ids = set(await db.scalars(select(CaseParty.citizen_id).where(CaseParty.case_id == case_id)))
    return ids <= await identity.referable(db, p, ids, case_id)


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


async def _protected_and_cleared(db: AsyncSession, p: Principal, case_id: int) -> CaseFile:
    case = await get_case_row(db, p, case_id)
    if case.kind not in PROTECTED_KINDS:
        raise Invalid("Hồ sơ này không có thông tin cần bảo mật.", {"case_id": "không phải tố cáo"})
    if not p.clearable or not await is_cleared(db, p, case.id):
        raise Forbidden("Chỉ người đã được phép xem hồ sơ mới quản lý quyền xem.")
    return case


@dataclass(frozen=True, slots=True)
class ClearanceView:
    account: Account
    granted_by: str
    granted_at: Any


async def list_clearances(db: AsyncSession, p: Principal, case_id: int) -> list[ClearanceView]:
    """The accounts cleared for a protected case: for an account itself cleared."""
    case = await _protected_and_cleared(db, p, case_id)
    rows = await db.execute(
        select(CaseClearance, Account)
        .join(Account, Account.id == CaseClearance.account_id)
        .where(CaseClearance.case_id == case.id)
        .order_by(Account.full_name, Account.id)
    )
    pairs = [(x, a) for x, a in rows]
    granters = {x.granted_by_id for x, _ in pairs if x.granted_by_id is not None}
    names: dict[int, str] = {
        i: n
        for i, n in await db.execute(
            select(Account.id, Account.full_name).where(Account.id.in_(granters))
        )
    }
    return [ClearanceView(a, names.get(x.granted_by_id or 0, ""), x.granted_at) for x, a in pairs]


async def clearable_accounts(db: AsyncSession, p: Principal, case_id: int) -> list[Account]:
    """Accounts in scope with a clearable role, not yet cleared for the case."""
    case = await _protected_and_cleared(db, p, case_id)
    cleared = select(CaseClearance.account_id).where(CaseClearance.case_id == case.id)
    rows = await db.scalars(
        select(Account)
        .where(
            _unit_scope(Account.unit_id, p),
            Account.active.is_(True),
            Account.id.not_in(cleared),
        )
        .order_by(Account.full_name, Account.id)
    )
    return [a for a in rows if a.role_set & CLEARABLE_ROLES]


async def revoke_clearance(db: AsyncSession, p: Principal, case_id: int, account_id: int) -> None:
    """Withdraw an account's clearance; nobody may leave a protected case with no one
    cleared (the identity would then be lost to everyone)."""
    case = await _protected_and_cleared(db, p, case_id)
    row = await db.get(CaseClearance, (case.id, account_id))
    if row is None:
        raise Invalid(
            "Tài khoản này chưa được cấp quyền.",
            {"account_id": f"tài khoản #{account_id} không có trong danh sách"},
        )
    others = await db.scalar(
        select(CaseClearance.account_id).where(
            CaseClearance.case_id == case.id, CaseClearance.account_id != account_id
        )
    )
    if others is None:
        raise Conflict(
            "Không thể thu hồi: hồ sơ sẽ không còn ai được phép xem danh tính.",
            {"account_id": "là người duy nhất được cấp quyền"},
        )
    await db.delete(row)
    await db.flush()
