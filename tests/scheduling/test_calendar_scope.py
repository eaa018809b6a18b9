"""The holiday calendar is the province's: only an administrator of the province itself may
put or take away a day, since every unit's deadlines follow it."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.scheduling.conftest import Login, demo_ids
from tests.web.conftest import count_rows, sign_in

PASSWORD = "mat-khau-quan-tri-xa"


async def test_only_a_province_admin_edits_the_holiday_calendar(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    ids = await demo_ids(client)
    admin = await as_user("admin")
    reply = await admin.post(
        "/api/v1/accounts",
        {
            "username": "quantri.tanphu",
            "full_name": "Quản trị xã Tân Phú",
            "unit_id": ids["unit:X-TP"],
            "roles": ["admin"],
            "password": PASSWORD,
        },
    )
    assert reply.status == 201, reply.body
    commune = await sign_in(client, "quantri.tanphu", PASSWORD)
    listed = await commune.get("/api/v1/calendar-days?year=2026")
    assert listed.status == 200 and listed.body["items"], listed.body  # reading is fine
    seeded = listed.body["items"][0]["date"]

    before = await count_rows(client)
    for method, path, body in (
        ("PUT", "/api/v1/calendar-days/2026-12-24", {"kind": "holiday", "name": "Nghỉ thêm"}),
        ("PUT", f"/api/v1/calendar-days/{seeded}", {"kind": "holiday", "name": "Đổi tên"}),
        ("DELETE", f"/api/v1/calendar-days/{seeded}", None),
    ):
        reply = await commune.call(method, path, body)
        assert reply.status == 403, (method, path, reply.body)
        assert reply.body["error"]["code"] == "forbidden"
        assert "date" in reply.error_fields
    assert await count_rows(client) == before
    assert (await commune.get("/api/v1/calendar-days?year=2026")).body == listed.body

    # The province's administrator may.
    reply = await admin.call(
        "PUT", "/api/v1/calendar-days/2026-12-24", {"kind": "holiday", "name": "Nghỉ thêm"}
    )
    assert reply.status == 201, reply.body
    reply = await admin.call("DELETE", "/api/v1/calendar-days/2026-12-24")
    assert reply.status == 200, reply.body
