"""The readiness board and its live stream, the check's recorded failure, the readiness
test room's admission, the signed .ics link and the calendar pages, by role."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from bridge import JoinRefused
from sessions.access import Principal
from sessions.models import Endpoint, Role
from tests.scheduling.checkkit import check_through_bridge
from tests.scheduling.conftest import (
    GOOD_FIGURES,
    Login,
    by_endpoint,
    create,
    demo_ids,
    local,
    session_body,
)
from tests.support import FakeClock
from tests.web.conftest import Caller, request, sign_in
from web.api.schedule import READINESS_FEED
from web.auth import COOKIE
from web.keys import DB
from web.live import SessionAuthorizer

EVENT_WAIT = 10.0


async def _next_board(resp: ClientResponse) -> dict[str, Any]:
    """The next `board` event of a Server-Sent Events stream (comments skipped)."""

    async def read() -> dict[str, Any]:
        event = ""
        while True:
            line = (await resp.content.readline()).decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "board":
                data: dict[str, Any] = json.loads(line[6:])
                return data

    return await asyncio.wait_for(read(), EVENT_WAIT)


def _states(board: dict[str, Any], session_id: int) -> dict[int, str]:
    s = next(s for s in board["sessions"] if s["id"] == session_id)
    return {e["endpoint_id"]: e["state"] for e in s["endpoints"]}


async def test_the_stream_pushes_checks_and_deadlines(
    client: TestClient[Any, Any], as_user: Login, clock: FakeClock
) -> None:
    ids = await demo_ids(client)
    officer, focal1 = await as_user("officer"), await as_user("focal1")
    sid = await create(officer, session_body(ids, local(2026, 11, 27, 8)))
    tp, hb = ids["ep:X-TP"], ids["ep:X-HB"]
    headers = {"Cookie": f"{COOKIE}={officer.token}", "Accept": "text/event-stream"}
    async with client.get("/api/v1/readiness/stream", headers=headers) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        first = await _next_board(resp)
        assert _states(first, sid) == {tp: "pending", hb: "pending"}
        row = next(e for e in first["sessions"][0]["endpoints"] if e["endpoint_id"] == tp)
        assert row["focal_staff"] == [{"full_name": "Lê Văn Đức", "phone": ""}]
        assert row["contact_phone"] == "0912 345 678"

        reply = await check_through_bridge(client, focal1, tp)
        assert reply.status == 201, reply.body
        pushed = await _next_board(resp)
        assert _states(pushed, sid) == {tp: "passed", hb: "pending"}

        clock.now = local(2026, 11, 26, 15, 1)  # past the deadline: the tick notices
        client.app[READINESS_FEED].changed()  # as the periodic tick does
        late = await _next_board(resp)
        assert _states(late, sid) == {tp: "passed", hb: "overdue"} and late["overdue"] >= 1


async def test_a_plain_get_of_the_stream_gets_one_event(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    officer = await as_user("officer")
    reply = await officer.get("/api/v1/readiness/stream")
    assert reply.status == 200 and reply.text.startswith("event: board\ndata: {")


@pytest.mark.parametrize("username", ["focal1", "chair", "archivist", "auditor"])
async def test_the_board_is_the_officers_and_admins(
    client: TestClient[Any, Any], as_user: Login, username: str
) -> None:
    caller = await as_user(username)
    for path in ("/api/v1/readiness", "/api/v1/readiness/stream", "/readiness"):
        assert (await caller.get(path)).status == 403, path
    for allowed in ("officer", "admin"):
        assert (await (await as_user(allowed)).get("/readiness")).status == 200


async def test_focal_staff_check_only_their_own_endpoint(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    ids = await demo_ids(client)
    focal1, officer = await as_user("focal1"), await as_user("officer")
    other = f"/api/v1/endpoints/{ids['ep:X-HB']}/readiness-checks"
    assert (await focal1.post(other, GOOD_FIGURES)).status == 403
    assert (await officer.post(other, GOOD_FIGURES)).status == 403
    # The test room's WebSocket: another's endpoint is not found, before any upgrade.
    bridge = f"/api/v1/endpoints/{ids['ep:X-HB']}/readiness-bridge"
    assert (await focal1.get(bridge)).status == 404
    page = await focal1.get("/readiness/check")
    assert page.status == 200 and f'data-endpoint-id="{ids["ep:X-TP"]}"' in page.text
    assert 'data-check-seconds="10.0"' in page.text
    info = await officer.get("/readiness/check")
    assert info.status == 200 and "không gắn với điểm cầu nào" in info.text


async def test_a_check_that_got_no_media_back_is_stored_as_failed(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    ids = await demo_ids(client)
    officer, focal2 = await as_user("officer"), await as_user("focal2")
    sid = await create(officer, session_body(ids, local(2026, 11, 27, 8)))
    hb = ids["ep:X-HB"]
    nothing = {k: 0 for k in ("rtt_ms", "jitter_ms", "bitrate_kbps", "fps", "width", "height")}
    body = nothing | {"loss_pct": 100, "audio_level_seen": False, "error": "cầu từ chối."}
    reply = await focal2.post(f"/api/v1/endpoints/{hb}/readiness-checks", body)
    assert reply.status == 201, reply.body
    assert reply.body["passed"] is False
    # Nothing reached the bridge; the browser's error says why, beside.
    assert reply.body["failure_reason"].startswith(
        "Cầu truyền hình chưa nhận được hình ảnh và âm thanh từ điểm cầu trong phòng kiểm tra"
        " (trình duyệt báo: cầu từ chối)."
    )
    row = by_endpoint(await officer.get(f"/api/v1/sessions/{sid}/readiness"))[hb]
    assert row["state"] == "failed" and row["figures"]["browser"]["error"] == "cầu từ chối."
    too_long = body | {"error": "x" * 501}
    assert (await focal2.post(f"/api/v1/endpoints/{hb}/readiness-checks", too_long)).status == 422


def _principal(username: str, roles: frozenset[Role], endpoint_id: int | None) -> Principal:
    return Principal(1, username, username, roles, 1, "/1/", endpoint_id)


async def test_the_readiness_room_admits_only_the_endpoints_focal_staff(
    client: TestClient[Any, Any],
) -> None:
    ids = await demo_ids(client)
    tp = ids["ep:X-TP"]
    authorizer = SessionAuthorizer(client.app[DB])
    focal = _principal("focal1", frozenset({Role.FOCAL_STAFF}), tp)
    admission = await authorizer.authorize(f"readiness-{tp}", focal)
    assert admission.loopback is True and admission.endpoint_id == tp
    assert not admission.may_chair
    with pytest.raises(JoinRefused) as other:
        await authorizer.authorize(f"readiness-{ids['ep:X-HB']}", focal)
    assert other.value.code == "not-focal-staff" and "cán bộ đầu mối" in other.value.message
    officer = _principal("officer", frozenset({Role.RECEPTION_OFFICER}), tp)
    with pytest.raises(JoinRefused):
        await authorizer.authorize(f"readiness-{tp}", officer)
    async with client.app[DB]() as db:
        ep = await db.get(Endpoint, tp)
        assert ep is not None
        ep.active = False
        await db.commit()
    with pytest.raises(JoinRefused) as inactive:
        await authorizer.authorize(f"readiness-{tp}", focal)
    assert inactive.value.code == "endpoint-inactive"
    assert "ngừng hoạt động" in inactive.value.message


async def _ics_path(caller: Caller) -> str:
    reply = await caller.get("/api/v1/calendar/link")
    assert reply.status == 200, reply.body
    url: str = reply.body["url"]
    return url[url.index("/api/v1/calendar/") :]


async def test_the_signed_ics_link(client: TestClient[Any, Any], as_user: Login) -> None:
    ids = await demo_ids(client)
    officer = await as_user("officer")
    await create(officer, session_body(ids, local(2026, 11, 27, 8)))
    path = await _ics_path(officer)
    feed = await request(client, "GET", path)  # no cookie
    assert feed.status == 200 and feed.headers["Content-Type"].startswith("text/calendar")
    assert "BEGIN:VCALENDAR" in feed.text and "Tiếp công dân định kỳ – tháng 12" in feed.text

    account, mac = path.removeprefix("/api/v1/calendar/").removesuffix(".ics").split("-", 1)
    tampered = [
        f"/api/v1/calendar/{account}-{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}.ics",
        f"/api/v1/calendar/{ids['acc:chair']}-{mac}.ics",  # another's id with this MAC
        f"/api/v1/calendar/{account}-.ics",
    ]
    for bad in tampered:
        assert (await request(client, "GET", bad)).status == 404, bad

    # A password change revokes the link; the new link works.
    admin = await as_user("admin")
    reply = await admin.patch(
        f"/api/v1/accounts/{officer.account_id}", {"password": "Mật-khẩu-mới-2026!"}
    )
    assert reply.status == 200, reply.body
    assert (await request(client, "GET", path)).status == 404
    officer = await sign_in(client, "officer", "Mật-khẩu-mới-2026!")
    fresh = await _ics_path(officer)
    assert fresh != path and (await request(client, "GET", fresh)).status == 200


async def test_calendar_pages_by_role(client: TestClient[Any, Any], as_user: Login) -> None:
    ids = await demo_ids(client)
    officer = await as_user("officer")
    await create(officer, session_body(ids, local(2026, 11, 27, 8)))
    month = await officer.get("/calendar?view=month&date=2026-11-10")
    assert month.status == 200
    assert "Tháng 11 năm 2026" in month.text and "Thứ Hai" in month.text
    assert 'data-date="2026-11-27"' in month.text and "08:00 Tiếp công dân định kỳ" in month.text
    assert "/api/v1/calendar/" in month.text  # the subscribable link

    week = await officer.get("/calendar?view=week&date=2026-11-27")
    assert week.status == 200 and "Tuần 23/11 – 29/11/2026" in week.text
    assert "08:00–10:00 Tiếp công dân định kỳ" in week.text
    # Placed on its local day: 00:30 in Hanoi is the evening before in UTC.
    await create(officer, session_body(ids, local(2026, 12, 1, 0, 30), endpoints=("X-DH",)))
    early = await officer.get("/calendar?view=week&date=2026-12-01")
    cell = early.text.split('data-date="2026-12-01"')[1].split("</td>")[0]
    assert "00:30" in cell

    focal1 = await as_user("focal1")
    mine = await focal1.get("/calendar?view=month&date=2026-11-10")
    assert mine.status == 200 and "Tiếp công dân định kỳ – tháng 12" in mine.text
    # A unit outside the account's scope is not found; bad parameters are refused.
    assert (await focal1.get(f"/calendar?unit={ids['unit:X-HB']}")).status == 404
    unit = await officer.get(f"/calendar?unit={ids['unit:X-TP']}&date=2026-11-27&view=week")
    assert unit.status == 200 and "Xã Tân Phú" in unit.text
    assert (await officer.get("/calendar?view=year")).status == 422
    assert (await officer.get("/calendar?date=27/11/2026")).status == 422


async def test_notifications_page(client: TestClient[Any, Any], as_user: Login) -> None:
    page = await (await as_user("focal1")).get("/notifications")
    assert page.status == 200 and "Thông báo" in page.text
