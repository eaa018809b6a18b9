"""The one decision on a citizen's identity (sessions/identity.py), on both databases:
protection follows the person across cases, context, audiences of several, the audit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions import accounts, identity
from sessions.access import Principal
from sessions.audit import AuditContext
from sessions.errors import Invalid
from sessions.models import (
    Account,
    AgendaCitizen,
    AgendaItem,
    AuditRecord,
    CaseClearance,
    CaseFile,
    CaseKind,
    CaseParty,
    Citizen,
    ReceptionSession,
    SubjectArea,
)
from sessions.seed import seed_demo
from sessions.text import search_key

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=64))


async def _principal(db: AsyncSession, username: str) -> Principal:
    account = await accounts.by_username(db, username)
    assert account is not None
    return await accounts.principal_for(db, account)


async def _case(
    db: AsyncSession, code: str, kind: CaseKind, citizen: int, cleared: list[int]
) -> int:
    row = CaseFile(
        code=code,
        kind=kind,
        subject_area=SubjectArea.LAND,
        title=code,
        title_key=search_key(code),
        handling_unit_id=1,
        parties=[CaseParty(citizen_id=citizen)],
    )
    db.add(row)
    await db.flush()
    db.add_all(CaseClearance(case_id=row.id, account_id=a) for a in cleared)
    await db.flush()
    return row.id


async def _world(db: AsyncSession) -> dict[str, int]:
    """A citizen who denounces twice (D1: officer cleared; D2: nobody cleared) and
    petitions once (O); and a citizen who is protected nowhere."""
    assert (await seed_demo(db, "x" * 20, NOW)).seeded
    officer = await db.scalar(select(Account.id).where(Account.username == "officer"))
    assert officer is not None
    both = Citizen(full_name="Hai Lần Tố", name_key="hai lan to", unit_id=1)
    plain = Citizen(full_name="Không Tố Ai", name_key="khong to ai", unit_id=1)
    db.add_all([both, plain])
    await db.flush()
    ids = {
        "both": both.id,
        "plain": plain.id,
        "d1": await _case(db, "T-D1", CaseKind.DENUNCIATION, both.id, [officer]),
        "d2": await _case(db, "T-D2", CaseKind.MIXED, both.id, []),
        "o": await _case(db, "T-O", CaseKind.COMPLAINT, both.id, [officer]),
        "o2": await _case(db, "T-O2", CaseKind.PETITION, plain.id, []),
    }
    await db.commit()
    return ids


async def test_protection_follows_the_person_and_the_context(db: AsyncSession) -> None:
    w = await _world(db)
    officer, archivist = await _principal(db, "officer"), await _principal(db, "archivist")
    people = [w["both"], w["plain"]]

    async def shown(p: Principal | None, case_id: int | None) -> frozenset[int]:
        """Who the account sees when it asks (reveals); on arrival nobody protected."""
        ctx = AuditContext(p) if p is not None else None
        arrival = await identity.disclose(db, ctx, people, surface="t", case_id=case_id)
        asked = await identity.disclose(
            db, ctx, people, surface="t", case_id=case_id, reveal="Lý do kiểm thử"
        )
        assert arrival.shown == asked.shown - asked.protected
        assert arrival.revealable == asked.protected
        return asked.shown

    # Protected nowhere: shown to everyone, even a room.
    for p in (officer, archivist, None):
        assert w["plain"] in await shown(p, None)
    # A denouncer on any case is withheld from whoever is not cleared for every such case,
    # in the context of an ordinary case too (the leak of issue 9) ...
    for case in (None, w["o"], w["d2"]):
        assert w["both"] not in await shown(archivist, case)
        assert w["both"] not in await shown(officer, case)
    # ... and shown to the officer handling D1 in D1's own context.
    assert w["both"] in await shown(officer, w["d1"])
    assert w["both"] not in await shown(archivist, w["d1"])
    # A room is an audience of several: nobody there is cleared.
    assert w["both"] not in await shown(None, w["d1"])
    # Cleared for D2 as well: shown everywhere to the officer.
    db.add(CaseClearance(case_id=w["d2"], account_id=officer.account_id))
    await db.flush()
    for case in (None, w["o"], w["d2"], w["o2"]):
        assert w["both"] in await shown(officer, case)
    # Who may refer to the citizen is the same decision.
    assert w["both"] not in await identity.referable(db, archivist, people)
    assert w["both"] in await identity.referable(db, officer, people)
    hidden = set(await db.scalars(identity.hidden_from(archivist)))
    assert w["both"] in hidden and w["plain"] not in hidden


async def test_each_shown_protected_identity_is_audited_once_per_request(
    db: AsyncSession,
) -> None:
    w = await _world(db)
    officer = await _principal(db, "officer")
    ctx = AuditContext(officer, "127.0.0.1", "req-1")

    async def views() -> int:
        n = await db.scalar(select(func.count()).where(AuditRecord.action == identity.VIEW_ACTION))
        return int(n or 0)

    # On arrival nothing protected is shown, so nothing is audited.
    arrival = await identity.disclose(db, ctx, [w["both"]], surface="t", case_id=w["d1"])
    assert arrival.shown == frozenset() and arrival.revealable == {w["both"]}
    assert await views() == 0
    # A reveal needs a reason in words.
    with pytest.raises(Invalid) as refused:
        await identity.disclose(db, ctx, [w["both"]], surface="t", case_id=w["d1"], reveal=" ")
    assert "reason" in refused.value.fields
    assert await views() == 0
    # Revealed in D1's context, twice in one request (a page with two parts): one record.
    for _ in range(2):
        await identity.disclose(
            db, ctx, [w["both"], w["plain"]], surface="t", case_id=w["d1"], reveal="Xác minh"
        )
    assert await views() == 1
    row = await db.scalar(select(AuditRecord).where(AuditRecord.action == identity.VIEW_ACTION))
    assert row is not None
    assert (row.object_type, row.object_id, row.actor_id) == (
        "citizen",
        str(w["both"]),
        officer.account_id,
    )
    assert row.detail == {"surface": "t", "case_id": w["d1"], "reason": "Xác minh"}
    # Another request is another view.
    await identity.disclose(
        db,
        AuditContext(officer, "", "req-2"),
        [w["both"]],
        surface="t",
        case_id=w["d1"],
        reveal="Xác minh lại",
    )
    assert await views() == 2
    # Withheld even when asked (no context it is cleared for), or not protected: no record.
    for rid, who in (("req-3", w["both"]), ("req-4", w["plain"])):
        ctx = AuditContext(officer, "", rid)
        await identity.disclose(db, ctx, [who], surface="t", reveal="Xác minh")
    assert await views() == 2


async def test_recordings_of_a_segment_with_a_protected_citizen_are_restricted(
    db: AsyncSession,
) -> None:
    """An ordinary case heard with a citizen who denounces elsewhere: its recording shows
    them, so it is restricted like their identity (it was decided by case kind only)."""
    w = await _world(db)
    officer, archivist = await _principal(db, "officer"), await _principal(db, "archivist")
    session_id = await db.scalar(select(ReceptionSession.id))
    assert session_id is not None

    async def restriction(p: Principal) -> identity.Restriction:
        return await identity.replay_restriction(db, p, session_id)

    item = AgendaItem(session_id=session_id, position=1, case_id=w["o2"], endpoint_id=1)
    db.add(item)
    await db.flush()
    assert (await restriction(archivist)) == identity.Restriction(True, ())
    db.add(
        AgendaItem(
            session_id=session_id,
            position=2,
            case_id=w["o"],
            endpoint_id=1,
            citizens=[AgendaCitizen(citizen_id=w["both"])],
        )
    )
    await db.flush()
    assert (await restriction(archivist)) == identity.Restriction(False, (w["o"],))
    # The officer is cleared for D1, not D2: the citizen is still withheld from them.
    assert not (await restriction(officer)).allowed
    db.add(CaseClearance(case_id=w["d2"], account_id=officer.account_id))
    await db.flush()
    assert (await restriction(officer)) == identity.Restriction(True, (w["o"],))
    # A protected case on the agenda restricts by itself, whoever is listed as heard.
    db.add(AgendaItem(session_id=session_id, position=3, case_id=w["d1"], endpoint_id=1))
    await db.flush()
    assert (await restriction(officer)) == identity.Restriction(True, (w["d1"], w["o"]))
    assert not (await restriction(archivist)).allowed
