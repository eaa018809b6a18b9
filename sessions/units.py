"""Units (a tree whose levels are data) and their endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.access import Principal
from sessions.errors import Conflict, Forbidden, Invalid, NotFound
from sessions.models import Endpoint, Unit, UnitLevel
from sessions.paging import Page, PageRequest, contains, escape_like, paginate
from sessions.text import nfc, search_key


def subtree(path: str) -> str:
    return f"{escape_like(path)}%"


def in_scope(principal: Principal) -> Any:
    """A WHERE clause for units the principal sees."""
    return Unit.path.like(subtree(principal.unit_path), escape="\\")


async def list_levels(db: AsyncSession) -> list[UnitLevel]:
    return list(await db.scalars(select(UnitLevel).order_by(UnitLevel.rank)))


async def list_units(db: AsyncSession, p: Principal, req: PageRequest) -> Page[Unit]:
    stmt = select(Unit).where(in_scope(p)).order_by(Unit.path)
    if req.q:
        key = search_key(req.q)
        stmt = stmt.where(or_(contains(Unit.name_key, key), contains(Unit.code, req.q.strip())))
    return await paginate(db, stmt, req)


async def get_unit(db: AsyncSession, p: Principal, unit_id: int) -> Unit:
    """The unit, or NotFound when it does not exist or is outside the caller's scope."""
    unit = await db.get(Unit, unit_id)
    if unit is None or not p.sees_unit(unit.path):
        raise NotFound(f"Không tìm thấy đơn vị #{unit_id}.")
    return unit


async def scoped_unit(db: AsyncSession, p: Principal, unit_id: int, field: str) -> Unit:
    """A unit named in input: Invalid when missing, Forbidden when outside the scope."""
    unit = await db.get(Unit, unit_id)
    if unit is None:
        raise Invalid("Đơn vị không tồn tại.", {field: f"không có đơn vị #{unit_id}"})
    if not p.sees_unit(unit.path):
        raise Forbidden(
            "Đơn vị nằm ngoài phạm vi của tài khoản.", {field: "ngoài phạm vi đơn vị của bạn"}
        )
    return unit


@dataclass(frozen=True, slots=True)
class UnitInput:
    name: str | None = None
    code: str | None = None
    level_code: str | None = None
    parent_id: int | None = None
    active: bool | None = None


async def _check_code(db: AsyncSession, code: str, own_id: int | None = None) -> None:
    other = await db.scalar(select(Unit).where(Unit.code == code))
    if other is not None and other.id != own_id:
        raise Conflict(f"Mã đơn vị {code!r} đã được dùng.", {"code": "đã tồn tại"})


async def _check_level(db: AsyncSession, level_code: str) -> None:
    if await db.get(UnitLevel, level_code) is None:
        raise Invalid("Cấp đơn vị không hợp lệ.", {"level_code": f"không có cấp {level_code!r}"})


async def create_unit(db: AsyncSession, p: Principal, data: UnitInput) -> Unit:
    if data.parent_id is None:
        # Only a second tree root could be made here; one province, one root.
        raise Invalid("Thiếu đơn vị cấp trên.", {"parent_id": "bắt buộc"})
    if not data.name or not data.code or not data.level_code:
        raise Invalid("Thiếu thông tin đơn vị.", {"name": "bắt buộc"})
    parent = await scoped_unit(db, p, data.parent_id, "parent_id")
    await _check_level(db, data.level_code)
    await _check_code(db, data.code)
    name = nfc(data.name)
    unit = Unit(
        parent_id=parent.id,
        level_code=data.level_code,
        code=data.code,
        name=name,
        name_key=search_key(name),
        path="",
        active=True if data.active is None else data.active,
    )
    db.add(unit)
    await db.flush()
    unit.path = f"{parent.path}{unit.id}/"
    await db.flush()
    return unit


async def update_unit(db: AsyncSession, p: Principal, unit_id: int, data: UnitInput) -> Unit:
    unit = await get_unit(db, p, unit_id)
    if data.parent_id is not None and data.parent_id != unit.parent_id:
        raise Invalid(
            "Không thể chuyển đơn vị sang đơn vị cấp trên khác.", {"parent_id": "cố định"}
        )
    if data.name is not None:
        unit.name = nfc(data.name)
        unit.name_key = search_key(unit.name)
    if data.code is not None and data.code != unit.code:
        await _check_code(db, data.code, unit.id)
        unit.code = data.code
    if data.level_code is not None:
        await _check_level(db, data.level_code)
        unit.level_code = data.level_code
    if data.active is not None:
        unit.active = data.active
    await db.flush()
    return unit


async def create_root(db: AsyncSession, code: str, name: str, level_code: str) -> Unit:
    """The province itself: used by the seed and by `tiepdan` set-up, never by the API."""
    name = nfc(name)
    unit = Unit(code=code, name=name, name_key=search_key(name), level_code=level_code, path="")
    db.add(unit)
    await db.flush()
    unit.path = f"/{unit.id}/"
    await db.flush()
    return unit


# Endpoints --------------------------------------------------------------------------------


def _endpoint_scope(p: Principal) -> Any:
    return Endpoint.unit_id.in_(select(Unit.id).where(in_scope(p)))


async def list_endpoints(
    db: AsyncSession, p: Principal, req: PageRequest, unit_id: int | None = None
) -> Page[Endpoint]:
    stmt = (
        select(Endpoint)
        .where(_endpoint_scope(p))
        .order_by(Endpoint.is_central.desc(), Endpoint.name_key)
    )
    if unit_id is not None:
        stmt = stmt.where(Endpoint.unit_id == unit_id)
    if req.q:
        stmt = stmt.where(contains(Endpoint.name_key, search_key(req.q)))
    return await paginate(db, stmt, req)


async def get_endpoint(db: AsyncSession, p: Principal, endpoint_id: int) -> Endpoint:
    row = await db.scalar(select(Endpoint).where(Endpoint.id == endpoint_id, _endpoint_scope(p)))
    if row is None:
        raise NotFound(f"Không tìm thấy điểm cầu #{endpoint_id}.")
    return row


@dataclass(frozen=True, slots=True)
class EndpointInput:
    name: str | None = None
    unit_id: int | None = None
    location: str | None = None
    contact_phone: str | None = None
    is_central: bool | None = None
    active: bool | None = None


async def _check_central(db: AsyncSession, own_id: int | None) -> None:
    other = await db.scalar(select(Endpoint).where(Endpoint.is_central.is_(True)))
    if other is not None and other.id != own_id:
        raise Conflict(
            f"Đã có điểm cầu trung tâm: {other.name}.",
            {"is_central": "chỉ có một điểm cầu trung tâm"},
        )


async def create_endpoint(db: AsyncSession, p: Principal, data: EndpointInput) -> Endpoint:
    if data.unit_id is None or not data.name:
        raise Invalid("Thiếu thông tin điểm cầu.", {"unit_id": "bắt buộc", "name": "bắt buộc"})
    await scoped_unit(db, p, data.unit_id, "unit_id")
    if data.is_central:
        await _check_central(db, None)
    name = nfc(data.name)
    row = Endpoint(
        unit_id=data.unit_id,
        name=name,
        name_key=search_key(name),
        location=nfc(data.location or ""),
        contact_phone=data.contact_phone or "",
        is_central=bool(data.is_central),
        active=True if data.active is None else data.active,
    )
    db.add(row)
    await db.flush()
    return row


async def update_endpoint(
    db: AsyncSession, p: Principal, endpoint_id: int, data: EndpointInput
) -> Endpoint:
    row = await get_endpoint(db, p, endpoint_id)
    if data.unit_id is not None and data.unit_id != row.unit_id:
        await scoped_unit(db, p, data.unit_id, "unit_id")
        row.unit_id = data.unit_id
    if data.name is not None:
        row.name = nfc(data.name)
        row.name_key = search_key(row.name)
    if data.location is not None:
        row.location = nfc(data.location)
    if data.contact_phone is not None:
        row.contact_phone = data.contact_phone
    if data.is_central is not None:
        if data.is_central:
            await _check_central(db, row.id)
        row.is_central = data.is_central
    if data.active is not None:
        row.active = data.active
    await db.flush()
    return row


def is_province_wide(p: Principal) -> bool:
    """Whether the account belongs to the tree's root, the province itself: `create_root`
    gives the root the one-segment path "/{id}/" and every other unit extends its parent's."""
    return p.unit_path.count("/") == 2
