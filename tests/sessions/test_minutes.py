"""Minutes on both databases: versions, the draft's saves, finalizing by the chair only, a
final version locked (409) and its hash verifying, superseding, and the facts naming
citizens by id only."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import accounts
from sessions.access import Principal
from sessions.errors import Conflict, Forbidden, Invalid
from sessions.minutes import store
from sessions.models import Minutes, MinutesState, ReceptionSession, SessionState, Unit
from sessions.seed import seed_demo
from tests.minutes_kit import CAMERA_SHA, COMPLAINANT, DENOUNCER, Heard, ended_session

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=3)


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=64))


async def _who(db: AsyncSession, username: str) -> Principal:
    account = await accounts.by_username(db, username)
    assert account is not None
    return await accounts.principal_for(db, account)


@pytest.fixture
async def heard(db: AsyncSession) -> Heard:
    assert (await seed_demo(db, "minutes-test-password", NOW)).seeded
    out = await ended_session(db)
    await db.commit()
    return out


async def _unit(db: AsyncSession, code: str) -> int:
    unit_id = await db.scalar(select(Unit.id).where(Unit.code == code))
    assert unit_id is not None
    return unit_id


def _text(presented: str = "", conclusions: str = "", body: str = "") -> store.MinutesInput:
    return store.MinutesInput(presented=presented, conclusions=conclusions, body=body)


async def test_a_version_from_draft_to_final_then_superseded(
    db: AsyncSession, heard: Heard
) -> None:
    officer, chair = await _who(db, "officer"), await _who(db, "chair")
    sonn = await _unit(db, "SNNMT")
    data = store.MinutesInput(
        presented="Công dân đề nghị xem xét lại quyết định thu hồi đất.",
        conclusions="Giao Sở kiểm tra, trả lời công dân.",
        directions=(store.DirectionInput(sonn, "Kiểm tra hồ sơ thu hồi đất", date(2026, 12, 31)),),
    )
    m = await store.start_version(db, officer, heard.session, heard.complaint_item, data)
    await db.commit()
    mid = m.id  # a rollback below expires the objects
    assert (m.version, m.state, m.supersedes_id, m.revision) == (1, MinutesState.DRAFT, None, 1)
    assert m.directions[0].unit_name == "Sở Nông nghiệp và Môi trường"
    # What the system knows is pre-filled, the citizen by id and never by name.
    facts = json.dumps(m.facts, ensure_ascii=False)
    assert COMPLAINANT not in facts and DENOUNCER not in facts
    item = m.facts["items"][0]
    assert item["case_code"] == "HS-MAU-001" and len(item["citizen_ids"]) == 1
    assert item["heard"][0]["start"] and item["heard"][0]["end"]
    assert item["segments"][0]["sha256"] == CAMERA_SHA
    assert m.facts["recordings"][0]["sha256"] == CAMERA_SHA
    assert m.facts["chair"]["name"] == "Nguyễn Văn Minh"
    assert m.facts["session"]["opened_at"] and m.facts["session"]["closed_at"]

    # A second draft of the same item is refused: edit the one there.
    with pytest.raises(Conflict) as exc:
        await store.start_version(db, officer, heard.session, heard.complaint_item)
    assert exc.value.fields == {"minutes_id": str(mid)}
    await db.rollback()

    saved = await store.save_draft(db, officer, mid, 1, data)
    await db.commit()
    assert saved.revision == 2
    with pytest.raises(Conflict) as stale:  # saved since the caller read it
        await store.save_draft(db, officer, mid, 1, data)
    assert "revision" in stale.value.fields
    await db.rollback()

    with pytest.raises(Forbidden):  # the officer keeps the minutes; the chair finalizes
        await store.finalize(db, officer, mid, LATER)
    await db.rollback()
    final = await store.finalize(db, chair, mid, LATER)
    await db.commit()
    assert final.state is MinutesState.LOCKED and final.sha256 == store.digest(final)
    assert store.verifies(final) is True and final.finalized_by_id == chair.account_id
    sealed = final.sha256

    # Locked: every write is a conflict (409), and nothing changes.
    for attempt in (
        store.save_draft(db, officer, mid, None, _text(conclusions="Sửa lén.")),
        store.finalize(db, chair, mid, LATER),
    ):
        with pytest.raises(Conflict):
            await attempt
        await db.rollback()
    # Nor below the store: a flush that writes over a final version is refused.
    locked = await store.get_minutes(db, chair, mid)
    locked.conclusions = "Sửa thẳng vào bảng."
    with pytest.raises(Conflict):
        await db.flush()
    await db.rollback()
    again = await store.get_minutes(db, chair, mid)
    assert again.conclusions == "Giao Sở kiểm tra, trả lời công dân." and store.verifies(again)
    assert again.sha256 == sealed

    # A new version supersedes it, starting from its text.
    v2 = await store.start_version(db, officer, heard.session, heard.complaint_item)
    await db.commit()
    assert (v2.version, v2.supersedes_id, v2.state) == (2, mid, MinutesState.DRAFT)
    assert v2.conclusions == again.conclusions and len(v2.directions) == 1
    versions = await store.list_versions(db, officer, heard.session)
    assert [(x.item_key, x.version) for x in versions] == [
        (heard.complaint_item, 1),
        (heard.complaint_item, 2),
    ]
    assert store.superseded(versions) == {}  # a draft replaces nothing yet
    await store.finalize(db, chair, v2.id, LATER)
    await db.commit()
    versions = await store.list_versions(db, officer, heard.session)
    assert store.superseded(versions)[mid].id == v2.id
    assert [x.id for x in await store.for_case(db, officer, heard.complaint)] == [mid, v2.id]
    assert await store.for_case(db, officer, heard.denunciation) == []


async def test_a_changed_row_no_longer_verifies(db: AsyncSession, heard: Heard) -> None:
    officer, chair = await _who(db, "officer"), await _who(db, "chair")
    m = await store.start_version(db, officer, heard.session, None, _text(body="Ghi chú."))
    mid = m.id
    await store.finalize(db, chair, mid, LATER)
    await db.commit()
    await db.execute(update(Minutes).where(Minutes.id == mid).values(body="Ghi chú khác."))
    await db.commit()
    db.expire_all()
    row = await store.get_minutes(db, chair, mid)
    assert row.body == "Ghi chú khác." and store.verifies(row) is False


async def test_minutes_wait_for_the_end_and_take_only_good_input(
    db: AsyncSession, heard: Heard
) -> None:
    officer = await _who(db, "officer")
    bad = store.MinutesInput(
        presented="x" * (store.LIMITS["presented"] + 1),
        directions=(
            store.DirectionInput(999_999, "Việc gì đó"),
            store.DirectionInput(await _unit(db, "SNNMT"), "   "),
        ),
    )
    with pytest.raises(Invalid) as exc:
        await store.start_version(db, officer, heard.session, None, bad)
    # Every problem at once, each named.
    assert set(exc.value.fields) == {"presented", "directions[0].unit_id", "directions[1].text"}
    await db.rollback()
    with pytest.raises(Invalid) as exc:
        await store.start_version(db, officer, heard.session, 424242)
    assert "agenda_item_id" in exc.value.fields
    await db.rollback()
    assert await db.scalar(select(Minutes.id)) is None  # nothing half-written

    s = await db.get(ReceptionSession, heard.session)
    assert s is not None
    s.state = SessionState.LIVE
    await db.commit()
    with pytest.raises(Conflict) as refused:
        await store.start_version(db, officer, heard.session, None)
    assert "state" in refused.value.fields


async def test_text_is_stored_as_typed_in_nfc(db: AsyncSession, heard: Heard) -> None:
    officer = await _who(db, "officer")
    typed = "<script>alert('x')</script> Nguye\u0302\u0303n  trình bày\r\ndòng hai  "
    m = await store.start_version(db, officer, heard.session, None, _text(presented=typed))
    assert m.presented == "<script>alert('x')</script> Nguyễn  trình bày\ndòng hai"


async def test_a_denunciation_item_is_written_by_the_cleared_only(
    db: AsyncSession, heard: Heard
) -> None:
    from sessions.models import Account, AccountRole, Role

    unit = await _unit(db, "P")
    db.add(
        Account(
            username="officer2",
            full_name="Cán bộ Chưa Cấp Quyền",
            name_key="can bo",
            unit_id=unit,
            password_hash="x",
            roles=[AccountRole(role=Role.RECEPTION_OFFICER)],
        )
    )
    await db.commit()
    uncleared = await _who(db, "officer2")
    with pytest.raises(Forbidden):
        await store.start_version(db, uncleared, heard.session, heard.denunciation_item)
    await db.rollback()
    m = await store.start_version(
        db, await _who(db, "officer"), heard.session, heard.denunciation_item
    )
    assert m.facts["items"][0]["case_code"] == "HS-MAU-003"
