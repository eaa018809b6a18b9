"""Accounts, their roles and passwords."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.access import Principal
from sessions.errors import Conflict, Forbidden, Invalid, NotFound
from sessions.models import Account, AccountRole, Endpoint, Role, Unit, utcnow
from sessions.paging import Page, PageRequest, contains, paginate
from sessions.text import nfc, search_key
from sessions.units import in_scope, scoped_unit

_hasher = PasswordHasher()
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 10

# A hash of nothing anyone can type, verified when the username is unknown so that a failed
# login takes the same time whether or not the account exists.
_DUMMY_HASH = _hasher.hash("tiepdan-no-such-account")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def burn_time(password: str) -> None:
    verify_password(_DUMMY_HASH, password)


def check_password_strength(password: str, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD:
        raise Invalid(
            f"Mật khẩu phải có ít nhất {MIN_PASSWORD} ký tự.",
            {field: f"tối thiểu {MIN_PASSWORD} ký tự"},
        )


async def principal_for(db: AsyncSession, account: Account) -> Principal:
    unit = await db.get(Unit, account.unit_id)
    assert unit is not None  # foreign key
    return Principal(
        account_id=account.id,
        username=account.username,
        full_name=account.full_name,
        roles=account.role_set,
        unit_id=unit.id,
        unit_path=unit.path,
        endpoint_id=account.endpoint_id,
    )


async def by_username(db: AsyncSession, username: str) -> Account | None:
    return await db.scalar(select(Account).where(Account.username == username.strip().lower()))


def _scope(p: Principal) -> Any:
    return Account.unit_id.in_(select(Unit.id).where(in_scope(p)))


async def list_accounts(
    db: AsyncSession, p: Principal, req: PageRequest, role: Role | None = None
) -> Page[Account]:
    stmt = select(Account).where(_scope(p)).order_by(Account.username)
    if req.q:
        key = search_key(req.q)
        stmt = stmt.where(or_(contains(Account.name_key, key), contains(Account.username, key)))
    if role is not None:
        stmt = stmt.where(
            Account.id.in_(select(AccountRole.account_id).where(AccountRole.role == role))
        )
    return await paginate(db, stmt, req)


async def get_account(db: AsyncSession, p: Principal, account_id: int) -> Account:
    row = await db.scalar(select(Account).where(Account.id == account_id, _scope(p)))
    if row is None:
        raise NotFound(f"Không tìm thấy tài khoản #{account_id}.")
    return row


@dataclass(frozen=True, slots=True)
class AccountInput:
    username: str | None = None
    full_name: str | None = None
    unit_id: int | None = None
    endpoint_id: int | None = None
    roles: frozenset[Role] | None = None
    password: str | None = None
    email: str | None = None
    phone: str | None = None
    title: str | None = None
    active: bool | None = None
    clear_endpoint: bool = False


async def _check_endpoint(db: AsyncSession, p: Principal, endpoint_id: int, unit: Unit) -> None:
    ep = await db.get(Endpoint, endpoint_id)
    if ep is None:
        raise Invalid(
            "Điểm cầu không tồn tại.", {"endpoint_id": f"không có điểm cầu #{endpoint_id}"}
        )
    ep_unit = await scoped_unit(db, p, ep.unit_id, "endpoint_id")
    if not ep_unit.path.startswith(unit.path):
        raise Invalid(
            "Điểm cầu không thuộc đơn vị của tài khoản.", {"endpoint_id": "không thuộc đơn vị"}
        )


async def create_account(db: AsyncSession, p: Principal, data: AccountInput) -> Account:
    missing = {
        f: "bắt buộc"
        for f, v in (
            ("username", data.username),
            ("full_name", data.full_name),
            ("unit_id", data.unit_id),
            ("password", data.password),
        )
        if not v
    }
    if not data.roles:
        missing["roles"] = "cần ít nhất một vai trò"
    if missing:
        raise Invalid("Thiếu thông tin tài khoản.", missing)
    assert data.username and data.full_name and data.unit_id and data.password and data.roles
    username = data.username.strip().lower()
    if not USERNAME_RE.match(username):
        raise Invalid(
            "Tên đăng nhập không hợp lệ.",
            {"username": "chỉ gồm chữ thường không dấu, số, dấu chấm, gạch (2–64 ký tự)"},
        )
    if await by_username(db, username) is not None:
        raise Conflict(f"Tên đăng nhập {username!r} đã được dùng.", {"username": "đã tồn tại"})
    check_password_strength(data.password)
    unit = await scoped_unit(db, p, data.unit_id, "unit_id")
    if Role.FOCAL_STAFF in data.roles and data.endpoint_id is None:
        raise Invalid("Cán bộ đầu mối phải gắn với một điểm cầu.", {"endpoint_id": "bắt buộc"})
    if data.endpoint_id is not None:
        await _check_endpoint(db, p, data.endpoint_id, unit)
    full_name = nfc(data.full_name)
    account = Account(
        username=username,
        full_name=full_name,
        name_key=search_key(full_name),
        unit_id=unit.id,
        endpoint_id=data.endpoint_id,
        password_hash=hash_password(data.password),
        email=(data.email or "").strip(),
        phone=(data.phone or "").strip(),
        title=nfc(data.title or ""),
        active=True if data.active is None else data.active,
        roles=[AccountRole(role=r) for r in sorted(data.roles)],
    )
    db.add(account)
    await db.flush()
    return account


OWN_REACH = "cần một quản trị viên khác thay đổi"


def check_own_reach(account: Account, data: AccountInput, endpoint_id: int | None) -> None:
    """An administrator cannot widen (or narrow) their own reach: their roles, their unit,
    their endpoint, their being active. Each would let one admin grant themselves cases and
    identities; a second administrator must make the change. Forbidden names the fields."""
    changed = {
        "roles": data.roles is not None and data.roles != account.role_set,
        "unit_id": data.unit_id is not None and data.unit_id != account.unit_id,
        "endpoint_id": endpoint_id != account.endpoint_id,
        "active": data.active is not None and data.active != account.active,
    }
    fields = {name: OWN_REACH for name, yes in changed.items() if yes}
    if fields:
        raise Forbidden(
            "Không thể tự thay đổi vai trò, đơn vị, điểm cầu hay trạng thái của chính tài khoản "
            "mình: cần một quản trị viên khác thực hiện.",
            fields,
        )


async def update_account(
    db: AsyncSession, p: Principal, account_id: int, data: AccountInput
) -> tuple[Account, frozenset[Role]]:
    """Apply the change; returns the account and its roles before the change."""
    account = await get_account(db, p, account_id)
    before = account.role_set
    if data.username is not None and data.username.strip().lower() != account.username:
        raise Invalid("Không đổi được tên đăng nhập.", {"username": "cố định"})
    if account.id == p.account_id and data.active is False:
        raise Invalid(
            "Không thể tự khóa tài khoản của chính mình.", {"active": "không áp dụng cho chính bạn"}
        )
    endpoint_id = None if data.clear_endpoint else (data.endpoint_id or account.endpoint_id)
    if account.id == p.account_id:
        check_own_reach(account, data, endpoint_id)
    unit = await db.get(Unit, account.unit_id)
    if data.unit_id is not None and data.unit_id != account.unit_id:
        unit = await scoped_unit(db, p, data.unit_id, "unit_id")
        account.unit_id = unit.id
    assert unit is not None
    roles = data.roles if data.roles is not None else before
    if not roles:
        raise Invalid("Cần ít nhất một vai trò.", {"roles": "cần ít nhất một vai trò"})
    if Role.FOCAL_STAFF in roles and endpoint_id is None:
        raise Invalid("Cán bộ đầu mối phải gắn với một điểm cầu.", {"endpoint_id": "bắt buộc"})
    if endpoint_id is not None:
        await _check_endpoint(db, p, endpoint_id, unit)
    account.endpoint_id = endpoint_id
    if data.roles is not None and data.roles != before:
        account.roles = [AccountRole(role=r) for r in sorted(data.roles)]
    if data.full_name is not None:
        account.full_name = nfc(data.full_name)
        account.name_key = search_key(account.full_name)
    for attr in ("email", "phone"):
        value = getattr(data, attr)
        if value is not None:
            setattr(account, attr, value.strip())
    if data.title is not None:
        account.title = nfc(data.title)
    if data.active is not None:
        account.active = data.active
    if data.password is not None:
        set_password(account, data.password)
    await db.flush()
    return account, before


def set_password(account: Account, password: str) -> None:
    check_password_strength(password)
    account.password_hash = hash_password(password)
    account.password_changed_at = utcnow()
