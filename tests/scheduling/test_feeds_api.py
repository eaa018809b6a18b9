"""The .ics feed, the holiday calendar, leaders' duties and notifications over the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from sessions.accounts import hash_password
from sessions.models import Account, AccountRole, ReceptionSession, Role, SessionState, Unit
from sessions.text import search_key
from tests.scheduling.conftest import Login, create, demo_ids, local, session_body
from tests.support import FakeClock
from web.keys import DB


def unfold(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")


async def test_ics_feed_is_valid_rfc5545_with_vietnamese_intact(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    ids = await demo_ids(client)
    officer = await as_user("officer")
    sid = await create(
        officer,
        session_body(
            ids,
            local(2026, 12, 3, 8),
            title="Tiếp công dân; đối thoại, khiếu nại đất đai xã Tân Phú và phường Hòa Bình",
            notes="Dòng một",
        ),
    )
    resp = await officer.client.get(
        "/api/v1/calendar.ics", headers={"Cookie": f"tiepdan_session={officer.token}"}
    )
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/calendar; charset=utf-8"
    raw = await resp.read()
    text = raw.decode("utf-8")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    lines = unfold(text)
    assert lines[0] == "BEGIN:VCALENDAR" and "VERSION:2.0" in lines and lines[-2] == "END:VCALENDAR"
    assert f"UID:session-{sid}@127.0.0.1" in lines
    assert "DTSTART:20261203T010000Z" in lines and "DTEND:20261203T030000Z" in lines
    assert (
        "SUMMARY:Tiếp công dân\\; đối thoại\\, khiếu nại đất đai xã Tân Phú và phường Hòa Bình"
        in lines
    )
    assert (
        "DESCRIPTION:Chủ trì: Nguyễn Văn Minh\\nĐiểm cầu tham gia: Điểm cầu xã Tân Phú\\, "
        "Điểm cầu phường Hòa Bình\\nDòng một" in "\n".join(lines)
    )
    assert "LOCATION:Điểm cầu trung tâm – Ban Tiếp công dân tỉnh" in lines
    assert lines.count("BEGIN:VEVENT") == 2  # with the demo's own session

    # Focal staff of Đông Hưng take part in nothing; the archivist neither.
    for username, events in (("focal2", 2), ("archivist", 0)):
        caller = await as_user(username)
        reply = await caller.get("/api/v1/calendar.ics")
        assert reply.status == 200
        assert unfold(reply.text).count("BEGIN:VEVENT") == events, username


async def test_holiday_calendar_is_data_the_admin_edits(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    admin, officer = await as_user("admin"), await as_user("officer")
    reply = await officer.get("/api/v1/calendar-days?year=2026")
    assert reply.status == 200 and len(reply.body["items"]) == 11
    reply = await officer.call(
        "PUT", "/api/v1/calendar-days/2026-12-05", {"kind": "working_day", "name": "Làm bù"}
    )
    assert reply.status == 403
    reply = await admin.call(
        "PUT", "/api/v1/calendar-days/2026-12-05", {"kind": "working_day", "name": "Làm bù"}
    )
    assert reply.status == 201, reply.body
    assert reply.body == {
        "date": "2026-12-05",
        "kind": "working_day",
        "name": "Làm bù",
        "weekday": 6,
    }
    reply = await admin.call(
        "PUT", "/api/v1/calendar-days/2026-12-07", {"kind": "working_day", "name": "Thứ Hai"}
    )
    assert reply.status == 422
    reply = await admin.call(
        "PUT", "/api/v1/calendar-days/2026-13-01", {"kind": "holiday", "name": "x"}
    )
    assert reply.status == 422 and "date" in reply.error_fields
    reply = await admin.call("DELETE", "/api/v1/calendar-days/2026-12-05")
    assert reply.status == 200
    reply = await admin.call("DELETE", "/api/v1/calendar-days/2026-12-05")
    assert reply.status == 404


async def _commune_leader(client: TestClient[Any, Any], ids: dict[str, int]) -> int:
    async with client.app[DB]() as db, db.begin():
        acc = Account(
            username="ctxtanphu",
            full_name="Đinh Văn Xã",
            name_key=search_key("Đinh Văn Xã"),
            title="Chủ tịch UBND xã Tân Phú",
            unit_id=ids["unit:X-TP"],
            password_hash=hash_password("x" * 12),
            roles=[AccountRole(role=Role.LEADER)],
        )
        db.add(acc)
        await db.flush()
        return acc.id


async def test_leader_duties_report(
    client: TestClient[Any, Any], as_user: Login, clock: FakeClock
) -> None:
    ids = await demo_ids(client)
    commune_chair = await _commune_leader(client, ids)
    officer = await as_user("officer")
    held = await create(officer, session_body(ids, local(2026, 11, 27, 8)))
    async with client.app[DB]() as db, db.begin():
        await db.execute(
            update(ReceptionSession)
            .where(ReceptionSession.id == held)
            .values(state=SessionState.ENDED)
        )
    reply = await officer.get("/api/v1/reports/leader-duties?month=2026-11")
    assert reply.status == 200, reply.body
    rows = {r["account_id"]: r for r in reply.body["items"]}
    chair = rows[ids["acc:chair"]]
    assert chair["rule"]["period"] == "month" and chair["required_days"] == 1
    assert chair["sessions_held"] == 1 and chair["session_ids"] == [held]
    assert chair["days_held"] == 1 and chair["met"] is True
    # The demo's session on the 25th is only scheduled: not held.
    commune = rows[commune_chair]
    assert commune["rule"] == {
        "times": 2,
        "period": "month",
        "effective_from": "2026-07-01",
        "basis": "Luật Tiếp công dân sửa đổi 2025",
    }
    assert commune["required_days"] == 2 and commune["met"] is False

    june = (await officer.get("/api/v1/reports/leader-duties?month=2026-06")).body["items"]
    july = (await officer.get("/api/v1/reports/leader-duties?month=2026-07")).body["items"]
    # Until 30 June 2026 a commune chair receives one day a week: Mondays 1, 8, 15, 22, 29.
    assert {r["account_id"]: r["required_days"] for r in june}[commune_chair] == 5
    assert {r["account_id"]: r["rule"]["period"] for r in june}[commune_chair] == "week"
    assert {r["account_id"]: r["required_days"] for r in july}[commune_chair] == 2
    assert {r["account_id"]: r["sessions_held"] for r in july}[ids["acc:chair"]] == 0

    reply = await officer.get("/api/v1/reports/leader-duties?month=2026-13")
    assert reply.status == 422 and "month" in reply.error_fields
    focal1 = await as_user("focal1")
    assert (await focal1.get("/api/v1/reports/leader-duties")).status == 403


async def test_changing_a_session_notifies_those_concerned(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    ids = await demo_ids(client)
    officer = await as_user("officer")
    sid = await create(officer, session_body(ids, local(2026, 12, 3, 8)))
    start = local(2026, 12, 3, 14)
    reply = await officer.patch(
        f"/api/v1/sessions/{sid}",
        {"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat()},
    )
    assert reply.status == 200, reply.body
    for username in ("chair", "focal1", "focal2"):
        caller = await as_user(username)
        items = (await caller.get("/api/v1/notifications")).body["items"]
        assert [n["session_id"] for n in items] == [sid], username
        assert "14:00–16:00 ngày 03/12/2026" in items[0]["text"]
    focal1 = await as_user("focal1")
    nid = (await focal1.get("/api/v1/notifications")).body["items"][0]["id"]
    reply = await focal1.post(f"/api/v1/notifications/{nid}/read")
    assert reply.status == 200 and reply.body["read_at"] is not None
    assert (await focal1.get("/api/v1/notifications?unread=1")).body["items"] == []
    focal2 = await as_user("focal2")
    assert (await focal2.post(f"/api/v1/notifications/{nid}/read")).status == 404
    archivist = await as_user("archivist")
    assert (await archivist.get("/api/v1/notifications")).body["items"] == []


async def test_leaders_of_other_units_are_outside_a_commune_officers_report(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    # Scope: the report lists leaders of the caller's units only.
    ids = await demo_ids(client)
    await _commune_leader(client, ids)
    async with client.app[DB]() as db, db.begin():
        unit = await db.get(Unit, ids["unit:X-HB"])
        assert unit is not None
        db.add(
            Account(
                username="officerhb",
                full_name="Cán bộ Hòa Bình",
                name_key=search_key("Cán bộ Hòa Bình"),
                unit_id=unit.id,
                password_hash=hash_password("hb-password-123"),
                roles=[AccountRole(role=Role.RECEPTION_OFFICER)],
            )
        )
    from tests.web.conftest import sign_in

    caller = await sign_in(client, "officerhb", "hb-password-123")
    reply = await caller.get("/api/v1/reports/leader-duties?month=2026-11")
    assert reply.status == 200 and reply.body["items"] == []
    async with client.app[DB]() as db:
        assert await db.scalar(select(Account.id).where(Account.username == "ctxtanphu"))
