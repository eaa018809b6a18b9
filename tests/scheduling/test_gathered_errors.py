"""POST/PATCH /api/v1/sessions: every problem of one input at once, in Vietnamese words
(never the API's own field names), and the unit taken from the central endpoint."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import update

from sessions.models import Endpoint
from tests.scheduling.conftest import Login, create, demo_ids, local, session_body
from tests.web.conftest import count_rows, sign_in
from web.api.receptions import SESSION_FIELDS
from web.keys import DB

START = local(2026, 11, 27, 8, 0)  # a Friday after the demo's own session


def _no_field_names(texts: list[str]) -> None:
    for text in texts:
        for name in SESSION_FIELDS:
            assert name not in text, (name, text)


async def test_every_problem_is_answered_at_once(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    ids = await demo_ids(client)
    async with client.app[DB]() as db, db.begin():
        await db.execute(update(Endpoint).where(Endpoint.id == ids["ep:X-DH"]).values(active=False))
    officer = await as_user("officer")
    before = await count_rows(client)
    body = session_body(
        ids,
        START,
        endpoints=("X-TP", "X-DH"),
        chair_id=ids["acc:officer"],  # not a leader
        ends_at=(START - timedelta(hours=1)).isoformat(),
        attendees=[{"guest_organization": "Báo Nhân Dân"}],  # a guest with no name
        agenda=[{"case_id": 999_999, "endpoint_id": ids["ep:X-TP"]}],
    )
    reply = await officer.post("/api/v1/sessions", body)
    assert reply.status == 422, reply.body
    fields = reply.error_fields
    assert fields == {
        "ends_at": "phải sau giờ bắt đầu",
        "chair_id": "Trần Thị Hồng Nhung không có vai trò lãnh đạo chủ trì",
        "endpoint_ids[1]": "điểm cầu Điểm cầu xã Đông Hưng đang ngừng hoạt động",
        "attendees[0].guest_name": "khách mời cần có họ tên",
        "agenda[0].case_id": "không có hồ sơ #999999",
    }
    message = reply.body["error"]["message"]
    assert "Giờ kết thúc phải sau giờ bắt đầu." in message
    assert "Người chủ trì:" in message
    _no_field_names([message, *fields.values()])
    assert await count_rows(client) == before


async def test_a_value_that_does_not_read_comes_with_the_store_s_problems(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    ids = await demo_ids(client)
    officer = await as_user("officer")
    body = session_body(ids, START, chair_id=ids["acc:officer"], kind="weekly")
    del body["title"]
    reply = await officer.post("/api/v1/sessions", body)
    assert reply.status == 422, reply.body
    assert set(reply.error_fields) == {"title", "kind", "chair_id"}
    _no_field_names(list(reply.error_fields.values()))


async def test_a_change_gathers_too(client: TestClient[Any, Any], as_user: Login) -> None:
    ids = await demo_ids(client)
    officer = await as_user("officer")
    sid = await create(officer, session_body(ids, START))
    before = await count_rows(client)
    reply = await officer.patch(
        f"/api/v1/sessions/{sid}",
        {
            "starts_at": (START + timedelta(hours=3)).isoformat(),
            "central_endpoint_id": ids["ep:X-TP"],  # not the central one
            "endpoint_ids": [999_999],
        },
    )
    assert reply.status == 422, reply.body
    assert reply.error_fields == {
        "ends_at": "phải sau giờ bắt đầu",
        "central_endpoint_id": "Điểm cầu xã Tân Phú không phải điểm cầu trung tâm",
        "endpoint_ids[0]": "không có điểm cầu #999999",
    }
    assert await count_rows(client) == before


async def test_a_past_start_and_a_clash_come_with_the_rest(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    ids = await demo_ids(client)
    officer = await as_user("officer")
    # The demo's session (25/11 08:30–11:30) holds the chair and the central endpoint.
    clash = session_body(ids, local(2026, 11, 25, 9, 0), endpoints=(), title="")
    reply = await officer.post("/api/v1/sessions", clash)
    assert reply.status == 422, reply.body
    fields = reply.error_fields
    assert set(fields) == {"title", "chair_id", "central_endpoint_id"}
    assert fields["chair_id"].startswith("trùng lịch: người chủ trì Nguyễn Văn Minh")
    past = session_body(ids, local(2026, 11, 20, 9, 0), chair_id=ids["acc:officer"])
    reply = await officer.post("/api/v1/sessions", past)
    assert reply.status == 422, reply.body
    assert set(reply.error_fields) == {"starts_at", "chair_id"}
    # Only a clash: a conflict, as before.
    only = session_body(ids, local(2026, 11, 25, 9, 0), endpoints=())
    reply = await officer.post("/api/v1/sessions", only)
    assert reply.status == 409, reply.body


async def test_the_unit_defaults_to_the_central_endpoint_s(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    ids = await demo_ids(client)
    officer = await as_user("officer")
    body = session_body(ids, START)
    del body["unit_id"]
    sid = await create(officer, body)
    got = await officer.get(f"/api/v1/sessions/{sid}")
    assert got.body["unit_id"] == ids["unit:BTCD"], got.body
    # Still accepted when given.
    sid = await create(officer, session_body(ids, START + timedelta(days=1)))
    assert (await officer.get(f"/api/v1/sessions/{sid}")).body["unit_id"] == ids["unit:P"]


async def test_a_commune_officer_s_session_stays_in_its_own_unit(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    """The central endpoint belongs to the provincial board, out of a commune officer's
    sight: a session of that unit would vanish from the officer's own lists."""
    ids = await demo_ids(client)
    admin = await as_user("admin")
    reply = await admin.post(
        "/api/v1/accounts",
        {
            "username": "tp.officer",
            "full_name": "Cán bộ tiếp công dân xã Tân Phú",
            "unit_id": ids["unit:X-TP"],
            "roles": ["reception_officer"],
            "password": "mat-khau-du-dai",
        },
    )
    assert reply.status == 201, reply.body
    officer = await sign_in(client, "tp.officer", "mat-khau-du-dai")
    body = session_body(ids, START, endpoints=("X-TP",))
    del body["unit_id"]
    sid = await create(officer, body)
    got = await officer.get(f"/api/v1/sessions/{sid}")
    assert got.status == 200 and got.body["unit_id"] == ids["unit:X-TP"], got.body
