"""The bridge wired into the app: who may join a session's room, the chair's controls
becoming stored session events, opening and closing a session."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp import ClientWebSocketResponse
from aiohttp.test_utils import TestClient

from tests.support import DEMO_PASSWORD, FakeClock, login, make_due, wait_for
from web.keys import CLOCK, DB
from web.live import LIVE


async def _expect(ws: ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    """The next message of this type (skipping others), failing with what came instead."""
    seen: list[str] = []
    while True:
        msg: dict[str, Any] = await ws.receive_json(timeout=10)
        if msg["type"] == kind:
            return msg
        seen.append(msg["type"])
        if len(seen) > 50:
            raise AssertionError(f"no {kind!r} message; got {seen}")


async def _session_id(client: TestClient[Any, Any]) -> int:
    body = await (await client.get("/api/v1/sessions")).json()
    sid: int = body["items"][0]["id"]
    return sid


async def test_join_refused_until_live_then_seats_and_events(client: TestClient[Any, Any]) -> None:
    csrf = await login(client, "chair")
    sid = await _session_id(client)
    h = {"X-CSRF-Token": csrf}

    ws = await client.ws_connect(f"/api/v1/sessions/{sid}/bridge")
    await ws.send_json({"type": "join"})
    refused = await _expect(ws, "error")
    assert refused["refused"] is True and refused["code"] == "not-live"
    await ws.close()

    await make_due(client.app[DB], client.app[CLOCK]())
    resp = await client.post(f"/api/v1/sessions/{sid}/open", headers=h)
    assert resp.status == 200, await resp.json()
    assert (await resp.json())["state"] == "live"

    ws = await client.ws_connect(f"/api/v1/sessions/{sid}/bridge")
    await ws.send_json({"type": "join"})
    joined = await _expect(ws, "joined")
    assert joined["participant_id"] == "acct-2"
    me = next(p for p in joined["participants"] if p["participant_id"] == "acct-2")
    assert me["is_central"] is True and me["may_chair"] is True
    await _expect(ws, "offer")

    # A malformed message gets a precise error and the connection stays usable.
    await ws.send_str("{not json")
    assert (await _expect(ws, "error"))["code"] == "bad-message"
    await ws.send_json({"type": "stats"})
    await _expect(ws, "stats")

    await ws.send_json({"type": "agenda", "action": "next"})
    await ws.send_json({"type": "recording", "active": True})
    await _expect(ws, "recording")
    live = client.app[LIVE]
    await live.events.drain()
    events = (await (await client.get(f"/api/v1/sessions/{sid}/events")).json())["items"]
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "open" and "join" in kinds and "agenda" in kinds and "recording" in kinds
    join = next(e for e in events if e["kind"] == "join")
    assert join["account_id"] == 2 and join["endpoint_id"] is not None

    resp = await client.post(f"/api/v1/sessions/{sid}/close", headers=h)
    assert (await resp.json())["state"] == "ended"
    await wait_for(lambda: ws.closed or not ws.exception(), "the socket to be closed by the room")
    await ws.close()


async def test_seats_by_role(aiohttp_client: Any, client: TestClient[Any, Any]) -> None:
    csrf = await login(client, "officer")
    sid = await _session_id(client)
    await make_due(client.app[DB], client.app[CLOCK]())
    assert (
        await client.post(f"/api/v1/sessions/{sid}/open", headers={"X-CSRF-Token": csrf})
    ).status == 200

    async def join_as(username: str) -> dict[str, Any]:
        other: TestClient[Any, Any] = await aiohttp_client(client.server)
        await login(other, username, DEMO_PASSWORD)
        ws = await other.ws_connect(f"/api/v1/sessions/{sid}/bridge")
        await ws.send_json({"type": "join"})
        while True:
            msg: dict[str, Any] = await ws.receive_json(timeout=10)
            if msg["type"] in ("joined", "error"):
                await ws.close()
                return msg

    focal = await join_as("focal1")
    assert focal["type"] == "joined"
    seat = next(p for p in focal["participants"] if p["participant_id"] == focal["participant_id"])
    assert seat["is_central"] is False and seat["may_chair"] is False

    refused = await join_as("archivist")
    assert refused["type"] == "error" and refused["code"] == "not-attendee"


async def test_socket_refused_for_foreign_origin_and_anonymous(
    client: TestClient[Any, Any],
) -> None:
    sid = 1
    resp = await client.get(f"/api/v1/sessions/{sid}/bridge")
    assert resp.status == 401
    await login(client, "chair")
    resp = await client.get(
        f"/api/v1/sessions/{sid}/bridge",
        headers={
            "Origin": "https://evil.example",
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    )
    assert resp.status == 403
    assert (await resp.json())["error"]["fields"] == {"Origin": "khác trang của hệ thống"}


async def test_only_chair_or_officer_opens(client: TestClient[Any, Any]) -> None:
    csrf = await login(client, "focal1")
    sid = await _session_id(client)
    resp = await client.post(f"/api/v1/sessions/{sid}/open", headers={"X-CSRF-Token": csrf})
    assert resp.status == 403


async def test_open_only_from_the_open_window_before_the_start(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    """The seeded session starts two days after the clock: opening is refused (409 naming
    starts_at, nothing changed) until 60 minutes before the start (TIEPDAN_OPEN_LEAD_MINUTES)."""
    csrf = await login(client, "chair")
    h = {"X-CSRF-Token": csrf}
    sid = await _session_id(client)
    body = await (await client.get(f"/api/v1/sessions/{sid}")).json()
    starts_at = datetime.fromisoformat(body["starts_at"])

    early = await client.post(f"/api/v1/sessions/{sid}/open", headers=h)
    assert early.status == 409
    error = (await early.json())["error"]
    assert "Chưa đến giờ mở phiên" in error["message"]
    assert "08:30" not in error["fields"]["starts_at"]  # 07:30, the start less 60 minutes
    assert error["fields"]["starts_at"].startswith("chỉ mở được từ 07:30")
    # Nor through editing the session (the officer's PATCH): opening has its own rule.
    officer = {"X-CSRF-Token": await login(client, "officer")}
    patched = await client.patch(f"/api/v1/sessions/{sid}", json={"state": "live"}, headers=officer)
    assert patched.status == 409 and "state" in (await patched.json())["error"]["fields"]

    clock.now = starts_at - timedelta(minutes=61)
    h = {"X-CSRF-Token": await login(client, "chair")}  # two days on: signed in again
    assert (await client.post(f"/api/v1/sessions/{sid}/open", headers=h)).status == 409
    again = await (await client.get(f"/api/v1/sessions/{sid}")).json()
    assert again["state"] == "scheduled"

    clock.now = starts_at - timedelta(minutes=59)
    opened = await client.post(f"/api/v1/sessions/{sid}/open", headers=h)
    assert opened.status == 200, await opened.text()
    assert (await opened.json())["state"] == "live"
