"""Readiness over the API: rows follow the session, checks by the endpoint's own staff,
judged on what the bridge measured of real media in the test room (the browser's figures
are kept beside, never decisive)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from scheduling.checks import NO_MEDIA_SHORT
from sessions.models import AuditRecord
from tests.bridge.bridgekit_media import vp8_clip
from tests.scheduling.checkkit import (
    bridge_measured,
    check_through_bridge,
    in_test_room,
    until_measured,
)
from tests.scheduling.conftest import (
    GOOD_FIGURES,
    Login,
    by_endpoint,
    create,
    demo_ids,
    local,
    session_body,
)
from tests.support import FakeClock, wait_for
from tests.web.conftest import count_rows
from web.keys import DB

# The fake clock starts on Monday 2026-11-23 at 09:00 in Hanoi.


async def test_new_session_has_pending_readiness_with_deadline(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    ids = await demo_ids(client)
    officer = await as_user("officer")
    sid = await create(officer, session_body(ids, local(2026, 11, 27, 8)))
    eps = by_endpoint(await officer.get(f"/api/v1/sessions/{sid}/readiness"))
    assert set(eps) == {ids["ep:X-TP"], ids["ep:X-HB"]}
    tp = eps[ids["ep:X-TP"]]
    assert tp["state"] == "pending"
    assert tp["deadline"] == "2026-11-26T15:00:00+07:00"
    assert tp["checked_at"] is None and tp["figures"] is None
    assert tp["due_immediately"] is False

    # Focal staff see only their own endpoint.
    focal1 = await as_user("focal1")
    assert set(by_endpoint(await focal1.get(f"/api/v1/sessions/{sid}/readiness"))) == {
        ids["ep:X-TP"]
    }


async def test_endpoints_removed_and_added_follow_the_session(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    ids = await demo_ids(client)
    officer = await as_user("officer")
    sid = await create(officer, session_body(ids, local(2026, 11, 27, 8)))
    reply = await officer.patch(
        f"/api/v1/sessions/{sid}", {"endpoint_ids": [ids["ep:X-HB"], ids["ep:X-DH"]]}
    )
    assert reply.status == 200, reply.body
    eps = by_endpoint(await officer.get(f"/api/v1/sessions/{sid}/readiness"))
    assert set(eps) == {ids["ep:X-HB"], ids["ep:X-DH"]}


async def test_check_passes_and_is_stored_on_every_due_session(
    client: TestClient[Any, Any], as_user: Login, clock: FakeClock
) -> None:
    ids = await demo_ids(client)
    officer, focal1 = await as_user("officer"), await as_user("focal1")
    sid = await create(officer, session_body(ids, local(2026, 11, 27, 8)))
    tp = ids["ep:X-TP"]
    reply = await check_through_bridge(client, focal1, tp)
    assert reply.status == 201, reply.body
    assert reply.body["passed"] is True and reply.body["failure_reason"] == ""
    # The demo's own session (Wednesday) and the new one (Friday).
    assert sid in reply.body["session_ids"] and len(reply.body["session_ids"]) == 2

    row = by_endpoint(await officer.get(f"/api/v1/sessions/{sid}/readiness"))[tp]
    assert row["state"] == "passed"
    assert row["checked_at"] == "2026-11-23T09:00:00+07:00"
    figures = row["figures"]
    # The bridge's figures are the basis: the picture it received, its round trip.
    assert figures["measured_by"] == "bridge"
    assert (figures["width"], figures["height"]) == (640, 360), figures
    assert 0 <= figures["rtt_ms"] < 200 and figures["audio_level_seen"] is True, figures
    assert figures["fps"] >= 15 and figures["bitrate_kbps"] > 0, figures
    assert figures["bridge"]["video_packets"] > 0 and figures["bridge"]["loudest_dbov"] == -30
    # The browser's, beside.
    assert figures["browser"]["rtt_ms"] == 85.5 and figures["browser"]["width"] == 1280
    assert row["checked_by"] == focal1.account_id
    async with client.app[DB]() as db:
        audit = await db.scalar(select(AuditRecord).where(AuditRecord.action == "readiness.check"))
    assert audit is not None and audit.detail["passed"] is True
    assert audit.detail["figures"]["browser"] == GOOD_FIGURES | {"error": ""}

    # Passed stays passed after the deadline; the untested endpoint turns overdue.
    clock.now = local(2026, 11, 26, 15, 1)
    officer = await as_user("officer")  # signed in again: login sessions expire by the clock
    eps = by_endpoint(await officer.get(f"/api/v1/sessions/{sid}/readiness"))
    assert eps[tp]["state"] == "passed"
    assert eps[ids["ep:X-HB"]]["state"] == "overdue"


async def test_failed_check_says_what_to_fix(client: TestClient[Any, Any], as_user: Login) -> None:
    ids = await demo_ids(client)
    officer, focal2 = await as_user("officer"), await as_user("focal2")
    sid = await create(officer, session_body(ids, local(2026, 11, 27, 8)))
    hb = ids["ep:X-HB"]
    # A small picture and a silent microphone reach the bridge; the browser says all is well.
    reply = await check_through_bridge(client, focal2, hb, video=vp8_clip(), audio_level=127)
    assert reply.status == 201, reply.body
    assert reply.body["passed"] is False
    assert "Độ phân giải 160×120, cần ít nhất 640×360" in reply.body["failure_reason"]
    assert "micrô" in reply.body["failure_reason"]
    assert "Độ trễ" not in reply.body["failure_reason"], "the round trip was fine"
    row = by_endpoint(await officer.get(f"/api/v1/sessions/{sid}/readiness"))[hb]
    assert row["state"] == "failed" and row["failure_reason"] == reply.body["failure_reason"]
    assert row["figures"]["width"] == 160 and row["figures"]["browser"]["width"] == 1280


async def test_invented_figures_without_media_fail(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    """Perfect figures posted with nothing in the test room do not pass: the bridge measured
    no media."""
    ids = await demo_ids(client)
    officer, focal1 = await as_user("officer"), await as_user("focal1")
    sid = await create(officer, session_body(ids, local(2026, 11, 27, 8)))
    tp = ids["ep:X-TP"]
    reply = await focal1.post(f"/api/v1/endpoints/{tp}/readiness-checks", GOOD_FIGURES)
    assert reply.status == 201, reply.body
    assert reply.body["passed"] is False and reply.body["state"] == "failed"
    reason = reply.body["failure_reason"]
    assert reason.startswith(f"{NO_MEDIA_SHORT} trong phòng kiểm tra."), reason
    assert reason.startswith("Cầu truyền hình chưa nhận được hình ảnh và âm thanh từ điểm cầu")
    row = by_endpoint(await officer.get(f"/api/v1/sessions/{sid}/readiness"))[tp]
    assert row["state"] == "failed" and row["failure_reason"] == reason
    assert row["figures"]["measured_by"] == "bridge" and row["figures"]["bridge"] is None
    assert row["figures"]["browser"]["rtt_ms"] == 85.5, "kept, as the browser reported it"


async def test_a_check_posted_after_leaving_the_test_room_fails(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    """The measurement is of the media in the room now: once the peer has left (the room
    closes with its last participant), nothing stands behind the browser's figures."""
    ids = await demo_ids(client)
    focal1 = await as_user("focal1")
    tp = ids["ep:X-TP"]
    async with in_test_room(client, focal1, tp) as peer:
        await until_measured(client, focal1, tp)
        await peer.ws.send_json({"type": "leave"})  # as the page does once it has its verdict
        await peer.expect("left")
    await wait_for(lambda: bridge_measured(client, focal1, tp) is None, "the test room empty")
    reply = await focal1.post(f"/api/v1/endpoints/{tp}/readiness-checks", GOOD_FIGURES)
    assert reply.status == 201, reply.body
    assert reply.body["passed"] is False
    assert reply.body["failure_reason"].startswith(NO_MEDIA_SHORT)


async def test_only_the_endpoints_own_focal_staff_may_check(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    ids = await demo_ids(client)
    tp = ids["ep:X-TP"]
    callers = [await as_user(u) for u in ("focal2", "officer", "admin", "chair")]
    focal1 = await as_user("focal1")
    before = await count_rows(client)
    for caller in callers:
        reply = await caller.post(f"/api/v1/endpoints/{tp}/readiness-checks", GOOD_FIGURES)
        assert reply.status == 403, (caller.username, reply.body)
    reply = await focal1.post("/api/v1/endpoints/9999/readiness-checks", GOOD_FIGURES)
    assert reply.status == 404
    reply = await focal1.post(
        f"/api/v1/endpoints/{tp}/readiness-checks", GOOD_FIGURES | {"fps": "many", "width": -1}
    )
    assert reply.status == 422
    assert set(reply.error_fields) == {"fps", "width"}
    reply = await focal1.post(f"/api/v1/endpoints/{tp}/readiness-checks", {"rtt_ms": 10})
    assert reply.status == 422 and "audio_level_seen" in reply.error_fields
    assert await count_rows(client) == before


async def test_focal_staff_cannot_see_readiness_of_a_session_without_their_endpoint(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    ids = await demo_ids(client)
    officer = await as_user("officer")
    sid = await create(officer, session_body(ids, local(2026, 11, 27, 8), endpoints=("X-HB",)))
    focal1 = await as_user("focal1")
    reply = await focal1.get(f"/api/v1/sessions/{sid}/readiness")
    assert reply.status == 404


async def test_created_after_the_deadline_is_due_at_once(
    client: TestClient[Any, Any], as_user: Login, clock: FakeClock
) -> None:
    ids = await demo_ids(client)
    clock.now = local(2026, 11, 26, 16)  # Thursday 16:00, after Friday's deadline
    officer = await as_user("officer")
    sid = await create(officer, session_body(ids, local(2026, 11, 27, 8)))
    eps = by_endpoint(await officer.get(f"/api/v1/sessions/{sid}/readiness"))
    assert all(e["due_immediately"] and e["state"] == "pending" for e in eps.values())
    assert all(e["deadline"] == "2026-11-26T15:00:00+07:00" for e in eps.values())
    clock.now = local(2026, 11, 27, 8)  # the session starts, still untested
    officer = await as_user("officer")
    eps = by_endpoint(await officer.get(f"/api/v1/sessions/{sid}/readiness"))
    assert all(e["state"] == "overdue" for e in eps.values())


async def test_rescheduled_across_the_deadline(
    client: TestClient[Any, Any], as_user: Login, clock: FakeClock
) -> None:
    ids = await demo_ids(client)
    officer = await as_user("officer")
    sid = await create(officer, session_body(ids, local(2026, 11, 27, 13)))
    clock.now = local(2026, 11, 25, 16)  # Wednesday 16:00
    officer = await as_user("officer")
    earlier = local(2026, 11, 26, 13)  # Thursday: its deadline was Wednesday 15:00
    reply = await officer.patch(
        f"/api/v1/sessions/{sid}",
        {"starts_at": earlier.isoformat(), "ends_at": (earlier + timedelta(hours=2)).isoformat()},
    )
    assert reply.status == 200, reply.body
    eps = by_endpoint(await officer.get(f"/api/v1/sessions/{sid}/readiness"))
    assert all(e["due_immediately"] for e in eps.values())
    assert all(e["deadline"] == "2026-11-25T15:00:00+07:00" for e in eps.values())
    later = local(2026, 12, 2, 13)  # moved back out: a fresh deadline ahead
    reply = await officer.patch(
        f"/api/v1/sessions/{sid}",
        {"starts_at": later.isoformat(), "ends_at": (later + timedelta(hours=2)).isoformat()},
    )
    assert reply.status == 200, reply.body
    eps = by_endpoint(await officer.get(f"/api/v1/sessions/{sid}/readiness"))
    assert not any(e["due_immediately"] for e in eps.values())
    assert all(e["state"] == "pending" for e in eps.values())
    assert all(e["deadline"] == "2026-12-01T15:00:00+07:00" for e in eps.values())
