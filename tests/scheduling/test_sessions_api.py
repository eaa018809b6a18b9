"""Scheduling rules on POST/PATCH /api/v1/sessions: conflicts, bad input, who schedules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from sessions.accounts import hash_password
from sessions.models import Account, AccountRole, CaseFile, CaseStatus, Endpoint, Role
from sessions.text import search_key
from sessions.units import create_root
from tests.scheduling.conftest import Login, create, demo_ids, local, session_body
from tests.web.conftest import count_rows
from web.keys import DB

# The demo's own session: Wednesday 2026-11-25, 08:30–11:30 in Hanoi, chaired by "chair",
# central endpoint and the endpoints of Tân Phú and Hòa Bình.
DEMO_START = local(2026, 11, 25, 8, 30)


async def _second_leader(client: TestClient[Any, Any], ids: dict[str, int]) -> int:
    async with client.app[DB]() as db, db.begin():
        acc = Account(
            username="phochutich",
            full_name="Lê Thị Phó",
            name_key=search_key("Lê Thị Phó"),
            unit_id=ids["unit:P"],
            password_hash=hash_password("x" * 12),
            roles=[AccountRole(role=Role.LEADER)],
        )
        db.add(acc)
        await db.flush()
        return acc.id


async def test_chair_booked_at_overlapping_time_is_refused(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    ids = await demo_ids(client)
    officer = await as_user("officer")
    before = await count_rows(client)
    reply = await officer.post(
        "/api/v1/sessions", session_body(ids, DEMO_START + timedelta(hours=1), endpoints=())
    )
    assert reply.status == 409, reply.body
    message = reply.body["error"]["message"]
    assert "người chủ trì Nguyễn Văn Minh" in message
    assert "Tiếp công dân định kỳ tháng (mẫu)" in message
    assert "08:30–11:30 ngày 25/11/2026" in message
    assert "chair_id" in reply.error_fields
    assert await count_rows(client) == before


async def test_endpoint_booked_at_overlapping_time_is_refused(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    ids = await demo_ids(client)
    other_chair = await _second_leader(client, ids)
    officer = await as_user("officer")
    reply = await officer.post(
        "/api/v1/sessions",
        session_body(
            ids, DEMO_START - timedelta(hours=1), endpoints=("X-TP",), chair_id=other_chair
        ),
    )
    assert reply.status == 409, reply.body
    message = reply.body["error"]["message"]
    assert "điểm cầu Điểm cầu xã Tân Phú" in message
    assert "điểm cầu Điểm cầu trung tâm" in message
    assert "người chủ trì" not in message
    assert {"endpoint_ids", "central_endpoint_id"} <= set(reply.error_fields)


async def test_adjacent_sessions_do_not_clash(client: TestClient[Any, Any], as_user: Login) -> None:
    ids = await demo_ids(client)
    officer = await as_user("officer")
    await create(officer, session_body(ids, DEMO_START + timedelta(hours=3)))  # from 11:30
    await create(officer, session_body(ids, DEMO_START - timedelta(hours=2), hours=2))  # to 08:30


async def test_moving_a_session_onto_another_is_refused_and_nothing_changes(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    ids = await demo_ids(client)
    officer = await as_user("officer")
    sid = await create(officer, session_body(ids, local(2026, 11, 25, 14)))
    before = await count_rows(client)
    reply = await officer.patch(
        f"/api/v1/sessions/{sid}",
        {
            "starts_at": local(2026, 11, 25, 10).isoformat(),
            "ends_at": local(2026, 11, 25, 12).isoformat(),
        },
    )
    assert reply.status == 409, reply.body
    assert await count_rows(client) == before
    got = await officer.get(f"/api/v1/sessions/{sid}")
    assert got.body["starts_at"] == "2026-11-25T14:00:00+07:00"


async def test_a_draft_holds_nothing_until_it_is_scheduled(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    ids = await demo_ids(client)
    officer = await as_user("officer")
    start = local(2026, 11, 30, 8)
    first = await create(officer, session_body(ids, start, state="draft"))
    second = await create(officer, session_body(ids, start, state="draft"))
    reply = await officer.patch(f"/api/v1/sessions/{first}", {"state": "scheduled"})
    assert reply.status == 200, reply.body
    reply = await officer.patch(f"/api/v1/sessions/{second}", {"state": "scheduled"})
    assert reply.status == 409, reply.body
    # Cancelling the first frees the slot.
    reply = await officer.patch(f"/api/v1/sessions/{first}", {"state": "cancelled"})
    assert reply.status == 200, reply.body
    reply = await officer.patch(f"/api/v1/sessions/{second}", {"state": "scheduled"})
    assert reply.status == 200, reply.body


async def test_closed_case_and_inactive_endpoint_are_conflicts(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    ids = await demo_ids(client)
    async with client.app[DB]() as db, db.begin():
        await db.execute(
            update(CaseFile)
            .where(CaseFile.id == ids["case:HS-MAU-001"])
            .values(status=CaseStatus.CLOSED)
        )
        await db.execute(update(Endpoint).where(Endpoint.id == ids["ep:X-DH"]).values(active=False))
    officer = await as_user("officer")
    before = await count_rows(client)
    start = local(2026, 11, 30, 8)
    agenda = [{"case_id": ids["case:HS-MAU-001"], "endpoint_id": ids["ep:X-TP"]}]
    reply = await officer.post("/api/v1/sessions", session_body(ids, start, agenda=agenda))
    assert reply.status == 409 and "HS-MAU-001" in reply.body["error"]["message"]
    reply = await officer.post("/api/v1/sessions", session_body(ids, start, endpoints=("X-DH",)))
    assert reply.status == 409 and "Đông Hưng" in reply.body["error"]["message"]
    assert await count_rows(client) == before


async def test_bad_input_is_refused_and_nothing_written(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    ids = await demo_ids(client)
    async with client.app[DB]() as db, db.begin():
        other = await create_root(db, "Q", "Tỉnh Khác", "province")
        db.add(
            Account(
                username="ngoaitinh",
                full_name="Người Tỉnh Khác",
                name_key=search_key("Người Tỉnh Khác"),
                unit_id=other.id,
                password_hash=hash_password("x" * 12),
            )
        )
        await db.flush()
    async with client.app[DB]() as db:
        outsider = await db.scalar(select(Account.id).where(Account.username == "ngoaitinh"))
    officer = await as_user("officer")
    start = local(2026, 11, 30, 8)
    base = session_body(ids, start)
    cases: list[tuple[dict[str, Any], int, str]] = [
        (base | {"ends_at": (start - timedelta(hours=1)).isoformat()}, 422, "ends_at"),
        (base | {"endpoint_ids": [9999]}, 422, "endpoint_ids[0]"),
        (
            base | {"agenda": [{"case_id": 9999, "endpoint_id": ids["ep:X-TP"]}]},
            422,
            "agenda[0].case_id",
        ),
        (
            session_body(ids, local(2026, 11, 23, 8)),  # the clock says 09:00 that day
            422,
            "starts_at",
        ),
        (base | {"starts_at": "2026-11-30T08:00:00"}, 422, "starts_at"),
        (base | {"starts_at": "30/11/2026 08:00"}, 422, "starts_at"),
        (base | {"attendees": [{"account_id": outsider}]}, 422, "attendees[0].account_id"),
    ]
    before = await count_rows(client)
    for body, status, field in cases:
        reply = await officer.post("/api/v1/sessions", body)
        assert reply.status == status, (field, reply.body)
        assert field in reply.error_fields, (field, reply.body)
    assert await count_rows(client) == before


async def test_only_reception_officer_and_admin_schedule(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    ids = await demo_ids(client)
    for username in ("chair", "focal1", "archivist", "auditor"):
        caller = await as_user(username)
        reply = await caller.post("/api/v1/sessions", session_body(ids, local(2026, 12, 1, 8)))
        assert reply.status == 403, (username, reply.body)
    admin = await as_user("admin")
    await create(admin, session_body(ids, local(2026, 12, 1, 8)))
    officer = await as_user("officer")
    await create(officer, session_body(ids, local(2026, 12, 2, 8)))
