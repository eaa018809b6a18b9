"""The demo province: units, endpoints, one account per role, a few citizens and cases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.access import Principal
from sessions.accounts import hash_password
from sessions.models import (
    Account,
    AccountRole,
    CaseClearance,
    CaseFile,
    CaseKind,
    CaseParty,
    CaseStatus,
    Citizen,
    Endpoint,
    ReceptionSession,
    Role,
    SessionEndpoint,
    SessionKind,
    SessionState,
    SubjectArea,
    Unit,
    UnitLevel,
)
from sessions.text import nfc, search_key
from sessions.units import create_root

LEVELS = (
    ("province", "Tỉnh, thành phố", 1),
    ("department", "Sở, ban, ngành", 2),
    ("district", "Huyện (trước 01/7/2025)", 2),
    ("commune", "Xã, phường, đặc khu", 3),
)

DEMO_ACCOUNTS = (
    # username, full name, title, roles, unit code, endpoint name
    ("admin", "Quản trị hệ thống", "Quản trị viên", (Role.ADMIN,), "P", None),
    ("chair", "Nguyễn Văn Minh", "Chủ tịch UBND tỉnh", (Role.LEADER,), "P", None),
    (
        "officer",
        "Trần Thị Hồng Nhung",
        "Chuyên viên Ban Tiếp công dân",
        (Role.RECEPTION_OFFICER,),
        "P",
        None,
    ),
    (
        "focal1",
        "Lê Văn Đức",
        "Cán bộ đầu mối xã Tân Phú",
        (Role.FOCAL_STAFF,),
        "X-TP",
        "Điểm cầu xã Tân Phú",
    ),
    (
        "focal2",
        "Phạm Thị Thu Hà",
        "Cán bộ đầu mối phường Hòa Bình",
        (Role.FOCAL_STAFF,),
        "X-HB",
        "Điểm cầu phường Hòa Bình",
    ),
    ("archivist", "Hoàng Văn Lưu", "Cán bộ lưu trữ", (Role.ARCHIVIST,), "P", None),
    ("auditor", "Đỗ Thị Kiểm", "Thanh tra viên", (Role.AUDITOR,), "P", None),
)


@dataclass(frozen=True, slots=True)
class SeedResult:
    seeded: bool
    reason: str
    usernames: tuple[str, ...] = ()


async def ensure_levels(db: AsyncSession) -> None:
    for code, name, rank in LEVELS:
        if await db.get(UnitLevel, code) is None:
            db.add(UnitLevel(code=code, name=name, rank=rank))
    await db.flush()


def _unit(parent: Unit, code: str, name: str, level: str) -> Unit:
    return Unit(
        parent_id=parent.id,
        code=code,
        name=name,
        name_key=search_key(name),
        level_code=level,
        path="",
    )


async def _add_units(db: AsyncSession) -> dict[str, Unit]:
    province = await create_root(db, "P", "Tỉnh An Bình (dữ liệu mẫu)", "province")
    units = {"P": province}
    for code, name, level in (
        ("BTCD", "Ban Tiếp công dân tỉnh", "department"),
        ("SNNMT", "Sở Nông nghiệp và Môi trường", "department"),
        ("X-TP", "Xã Tân Phú", "commune"),
        ("X-HB", "Phường Hòa Bình", "commune"),
        ("X-DH", "Xã Đông Hưng", "commune"),
    ):
        unit = _unit(province, code, name, level)
        db.add(unit)
        await db.flush()
        unit.path = f"{province.path}{unit.id}/"
        units[code] = unit
    await db.flush()
    return units


async def _add_endpoints(db: AsyncSession, units: dict[str, Unit]) -> dict[str, Endpoint]:
    eps: dict[str, Endpoint] = {}
    for code, name, central, phone in (
        ("BTCD", "Điểm cầu trung tâm – Ban Tiếp công dân tỉnh", True, "0203 3812 345"),
        ("X-TP", "Điểm cầu xã Tân Phú", False, "0912 345 678"),
        ("X-HB", "Điểm cầu phường Hòa Bình", False, "0987 654 321"),
        ("X-DH", "Điểm cầu xã Đông Hưng", False, "0903 111 222"),
    ):
        ep = Endpoint(
            unit_id=units[code].id,
            name=name,
            name_key=search_key(name),
            is_central=central,
            contact_phone=phone,
            location=f"Trụ sở {units[code].name}",
        )
        db.add(ep)
        eps[name] = ep
    await db.flush()
    return eps


async def seed_demo(db: AsyncSession, password: str, now: datetime | None = None) -> SeedResult:
    """Seed the demo province, unless the database already has accounts."""
    count = await db.scalar(select(func.count()).select_from(Account))
    if count:
        return SeedResult(False, f"cơ sở dữ liệu đã có {count} tài khoản; không tạo dữ liệu mẫu")
    await ensure_levels(db)
    units = await _add_units(db)
    eps = await _add_endpoints(db, units)
    pw_hash = hash_password(password)
    accounts: dict[str, Account] = {}
    for username, name, title, roles, unit_code, ep_name in DEMO_ACCOUNTS:
        unit = units[unit_code]
        acc = Account(
            username=username,
            full_name=nfc(name),
            name_key=search_key(name),
            title=title,
            unit_id=unit.id,
            endpoint_id=eps[ep_name].id if ep_name else None,
            password_hash=pw_hash,
            roles=[AccountRole(role=r) for r in roles],
        )
        db.add(acc)
        accounts[username] = acc
    await db.flush()
    await _add_cases(db, units, accounts["officer"], accounts["chair"])
    start = (now or datetime.now(UTC)).replace(
        hour=1, minute=30, second=0, microsecond=0
    ) + timedelta(days=2)
    db.add(
        ReceptionSession(
            title="Tiếp công dân định kỳ tháng (mẫu)",
            title_key=search_key("Tiếp công dân định kỳ tháng (mẫu)"),
            kind=SessionKind.PERIODIC,
            state=SessionState.SCHEDULED,
            unit_id=units["P"].id,
            chair_id=accounts["chair"].id,
            central_endpoint_id=eps["Điểm cầu trung tâm – Ban Tiếp công dân tỉnh"].id,
            starts_at=start,
            ends_at=start + timedelta(hours=3),
            created_by_id=accounts["officer"].id,
            endpoints=[
                SessionEndpoint(endpoint_id=eps["Điểm cầu xã Tân Phú"].id),
                SessionEndpoint(endpoint_id=eps["Điểm cầu phường Hòa Bình"].id),
            ],
            attendees=[],
            agenda=[],
        )
    )
    await db.flush()
    return SeedResult(True, "đã tạo tỉnh mẫu", tuple(a[0] for a in DEMO_ACCOUNTS))


async def _add_cases(
    db: AsyncSession, units: dict[str, Unit], officer: Account, chair: Account
) -> None:
    people = [
        Citizen(full_name=n, name_key=search_key(n), id_number=i, address=a, unit_id=units[u].id)
        for n, i, a, u in (
            ("Nguyễn Văn An", "036085001234", "Thôn Đông, xã Tân Phú", "X-TP"),
            ("Trần Thị Bích", "036190004321", "Tổ 5, phường Hòa Bình", "X-HB"),
            ("Vũ Đức Cường", "036078009876", "Thôn Nam, xã Tân Phú", "X-TP"),
        )
    ]
    db.add_all(people)
    await db.flush()
    for code, kind, area, title, who, unit in (
        (
            "HS-MAU-001",
            CaseKind.COMPLAINT,
            SubjectArea.LAND,
            "Khiếu nại quyết định thu hồi đất nông nghiệp",
            0,
            "X-TP",
        ),
        (
            "HS-MAU-002",
            CaseKind.PETITION,
            SubjectArea.ENVIRONMENT,
            "Phản ánh ô nhiễm từ cơ sở chế biến",
            1,
            "X-HB",
        ),
        (
            "HS-MAU-003",
            CaseKind.DENUNCIATION,
            SubjectArea.LAND,
            "Tố cáo cán bộ địa chính nhận tiền",
            2,
            "P",
        ),
    ):
        case = CaseFile(
            code=code,
            kind=kind,
            subject_area=area,
            title=title,
            title_key=search_key(title),
            status=CaseStatus.RECEIVED,
            handling_unit_id=units[unit].id,
            created_by_id=officer.id,
            parties=[CaseParty(citizen_id=people[who].id)],
        )
        db.add(case)
        await db.flush()
        if kind is CaseKind.DENUNCIATION:
            db.add_all(
                [
                    CaseClearance(case_id=case.id, account_id=a.id, granted_by_id=officer.id)
                    for a in (officer, chair)
                ]
            )
    await db.flush()


async def ensure_province(db: AsyncSession, name: str) -> Principal:
    """Make the levels and the province root for a fresh production database (no demo)."""
    await ensure_levels(db)
    root = await db.scalar(select(Unit).where(Unit.parent_id.is_(None)))
    if root is None:
        root = await create_root(db, "P", name, "province")
    return Principal(0, "system", "Hệ thống", frozenset({Role.ADMIN}), root.id, root.path, None)
