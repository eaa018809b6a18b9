"""The store on both databases: search that ignores diacritics and case, paging, the
session's states."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import accounts, cases, receptions, units
from sessions.access import Principal
from sessions.audit import AuditContext
from sessions.errors import Conflict, Invalid
from sessions.models import Account, Endpoint, SessionKind, SessionState
from sessions.paging import PageRequest
from sessions.seed import seed_demo

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=64))


async def _seed(db: AsyncSession) -> None:
    result = await seed_demo(db, "store-test-password", NOW)
    assert result.seeded
    await db.commit()


async def _principal(db: AsyncSession, username: str) -> Principal:
    account = await accounts.by_username(db, username)
    assert account is not None
    return await accounts.principal_for(db, account)


def _variants(text: str) -> list[str]:
    """The ways people type a name: bare, upper case, lower case, NFD, a part of it."""
    bare = "".join(
        c
        for c in unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
        if not unicodedata.combining(c)
    )
    return [
        bare.lower(),
        bare.upper(),
        text.upper(),
        text.lower(),
        unicodedata.normalize("NFD", text),
        "  " + " ".join(text.split()[-2:]).upper() + "  ",
    ]


SEARCHES = [
    # (store, who searches, the name to find, names that must not match)
    ("units", "admin", "Xã Tân Phú", ["Phường Hòa Bình", "Xã Đông Hưng"]),
    ("units", "admin", "Xã Đông Hưng", ["Xã Tân Phú"]),
    ("endpoints", "admin", "Điểm cầu phường Hòa Bình", ["Điểm cầu xã Tân Phú"]),
    ("accounts", "admin", "Nguyễn Văn Minh", ["Trần Thị Hồng Nhung"]),
    ("accounts", "admin", "Lê Văn Đức", ["Phạm Thị Thu Hà"]),
    ("citizens", "officer", "Nguyễn Văn An", ["Trần Thị Bích"]),
    (
        "cases",
        "officer",
        "Phản ánh ô nhiễm từ cơ sở chế biến",
        ["Tố cáo cán bộ địa chính nhận tiền"],
    ),
    ("sessions", "officer", "Tiếp công dân định kỳ tháng (mẫu)", []),
]


async def _names(db: AsyncSession, store: str, p: Principal, q: str) -> list[str]:
    req = PageRequest(q=q, per_page=200)
    if store == "units":
        return [u.name for u in (await units.list_units(db, p, req)).items]
    if store == "endpoints":
        return [e.name for e in (await units.list_endpoints(db, p, req)).items]
    if store == "accounts":
        return [a.full_name for a in (await accounts.list_accounts(db, p, req)).items]
    if store == "citizens":
        return [
            v.citizen.full_name for v in (await cases.list_citizens(db, AuditContext(p), req)).items
        ]
    if store == "cases":
        return [c.title for c in (await cases.list_cases(db, p, req)).items]
    return [s.title for s in (await receptions.list_sessions(db, p, req)).items]


async def test_search_ignores_diacritics_and_case(db: AsyncSession) -> None:
    await _seed(db)
    for store, who, name, others in SEARCHES:
        p = await _principal(db, who)
        everything = await _names(db, store, p, "")
        assert name in everything and all(o in everything for o in others), (store, everything)
        for q in _variants(name):
            found = await _names(db, store, p, q)
            assert name in found, (store, q, found)
            assert not set(others) & set(found), (store, q, found)


async def test_search_matches_the_common_forms_of_a_name(db: AsyncSession) -> None:
    await _seed(db)
    p = await _principal(db, "officer")
    for q in ("nguyen van an", "NGUYỄN", "Nguyễn văn", "van an", "NGUYEN VAN AN"):
        assert await _names(db, "citizens", p, q) == ["Nguyễn Văn An"], q
    # "d" finds "đ": the Vietnamese letter has no decomposition of its own.
    assert await _names(db, "citizens", p, "vu duc") == ["Vũ Đức Cường"]
    # LIKE wildcards typed by a user are plain characters.
    for q in ("%", "_", "nguyen%an", "\\"):
        assert await _names(db, "citizens", p, q) == [], q
    assert await _names(db, "citizens", p, "khong ai co ten nay") == []


async def test_paging_totals(db: AsyncSession) -> None:
    await _seed(db)
    p = await _principal(db, "officer")
    for i in range(7):
        await cases.create_citizen(
            db, p, cases.CitizenInput(full_name=f"Lò Văn Páo {i}", unit_id=p.unit_id)
        )
    await db.commit()
    seen: list[int] = []
    for page, want in ((1, 3), (2, 3), (3, 1), (4, 0)):
        result = await cases.list_citizens(
            db, AuditContext(p), PageRequest(page=page, per_page=3, q="lo van pao")
        )
        assert (result.total, result.page, result.per_page) == (7, page, 3)
        assert len(result.items) == want
        seen += [v.citizen.id for v in result.items]
    assert len(seen) == len(set(seen)) == 7
    whole = await cases.list_citizens(db, AuditContext(p), PageRequest(per_page=200))
    assert whole.total == len(whole.items) == 7 + 3


# Session states ---------------------------------------------------------------------------


async def _new_session(db: AsyncSession, p: Principal) -> int:
    chair = await db.scalar(select(Account).where(Account.username == "chair"))
    central = await db.scalar(select(Endpoint).where(Endpoint.is_central.is_(True)))
    other = await db.scalar(select(Endpoint).where(Endpoint.name == "Điểm cầu xã Tân Phú"))
    assert chair and central and other
    start = NOW + timedelta(days=7)
    s = await receptions.create_session(
        db,
        p,
        receptions.SessionInput(
            title="Phiên đột xuất về đất đai",
            kind=SessionKind.AD_HOC,
            unit_id=p.unit_id,
            chair_id=chair.id,
            central_endpoint_id=central.id,
            starts_at=start,
            ends_at=start + timedelta(hours=2),
            endpoint_ids=(other.id,),
        ),
    )
    assert s.state is SessionState.DRAFT
    await db.commit()
    return s.id


async def _move(db: AsyncSession, p: Principal, session_id: int, to: SessionState) -> None:
    await receptions.update_session(db, p, session_id, receptions.SessionInput(state=to))
    await db.commit()


async def test_session_follows_its_states(db: AsyncSession) -> None:
    await _seed(db)
    p = await _principal(db, "officer")
    sid = await _new_session(db, p)
    path = [
        SessionState.SCHEDULED,
        SessionState.DRAFT,
        SessionState.SCHEDULED,
        SessionState.LIVE,
        SessionState.ENDED,
        SessionState.ARCHIVED,
    ]
    for to in path:
        await _move(db, p, sid, to)
        assert (await receptions.get_session(db, p, sid)).state is to
    for to in SessionState:
        if to is not SessionState.ARCHIVED:
            with pytest.raises(Conflict):
                await _move(db, p, sid, to)
            await db.rollback()


WRONG_MOVES = [
    ((), SessionState.LIVE),  # a draft is scheduled before it goes live
    ((), SessionState.ENDED),
    ((SessionState.SCHEDULED,), SessionState.ENDED),
    ((SessionState.SCHEDULED, SessionState.LIVE), SessionState.CANCELLED),
    ((SessionState.SCHEDULED, SessionState.LIVE), SessionState.SCHEDULED),
    ((SessionState.CANCELLED,), SessionState.SCHEDULED),
    ((SessionState.CANCELLED,), SessionState.DRAFT),
]


async def test_session_refuses_wrong_moves(db: AsyncSession) -> None:
    await _seed(db)
    p = await _principal(db, "officer")
    for path, refused in WRONG_MOVES:
        sid = await _new_session(db, p)
        for to in path:
            await _move(db, p, sid, to)
        with pytest.raises(Conflict) as err:
            await _move(db, p, sid, refused)
        assert "state" in err.value.fields
        await db.rollback()
        state = (await receptions.get_session(db, p, sid)).state
        assert state is (path[-1] if path else SessionState.DRAFT), (path, refused)


async def test_live_session_plan_is_fixed_but_it_can_always_end(db: AsyncSession) -> None:
    await _seed(db)
    p = await _principal(db, "officer")
    sid = await _new_session(db, p)
    await _move(db, p, sid, SessionState.SCHEDULED)
    await _move(db, p, sid, SessionState.LIVE)
    with pytest.raises(Conflict):
        await receptions.update_session(
            db, p, sid, receptions.SessionInput(title="Đổi tên khi đang họp")
        )
    await db.rollback()
    # An endpoint switched off while the session runs must not keep it from ending.
    other = await db.scalar(select(Endpoint).where(Endpoint.name == "Điểm cầu xã Tân Phú"))
    assert other is not None
    other.active = False
    await db.commit()
    await _move(db, p, sid, SessionState.ENDED)
    assert (await receptions.get_session(db, p, sid)).state is SessionState.ENDED


async def test_session_input_is_checked(db: AsyncSession) -> None:
    await _seed(db)
    p = await _principal(db, "officer")
    sid = await _new_session(db, p)
    starts_at = (await receptions.get_session(db, p, sid)).starts_at
    with pytest.raises(Invalid) as err:
        await receptions.update_session(
            db, p, sid, receptions.SessionInput(ends_at=starts_at - timedelta(minutes=1))
        )
    assert "ends_at" in err.value.fields
    await db.rollback()
    with pytest.raises(Invalid) as err:
        await receptions.update_session(db, p, sid, receptions.SessionInput(chair_id=p.account_id))
    assert "chair_id" in err.value.fields
