"""The bridge's and the recorder's figures on /metrics, end to end but the browser: real
aiortc peers join a live session over the WebSocket and exchange media, a subscriber asks
for a key frame, a recording runs and is verified; /metrics, read by Prometheus' own text
parser, must show each of these."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from sessions.models import Account, Citizen
from tests.support import make_due, wait_for
from tests.web.conftest import Caller, Login, request
from tests.web.recording_kit import WsParticipant, add_agenda, flip_byte
from web.auth import COOKIE
from web.config import Config
from web.keys import CLOCK, DB
from web.live import LIVE
from web.recording_checks import verify_command
from web.recordings import RECORDINGS

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@dataclass
class Scrape:
    text: str
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]

    def value(self, name: str, **labels: str) -> float | None:
        return self.samples.get((name, frozenset(labels.items())))

    def total(self, name: str, **labels: str) -> float:
        """The sum of `name`'s samples whose labels include `labels`."""
        want = set(labels.items())
        return sum(v for (n, got), v in self.samples.items() if n == name and want <= got)


async def scrape(client: TestClient[Any, Any]) -> Scrape:
    reply = await request(client, "GET", "/metrics")
    assert reply.status == 200, reply.text
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(reply.text)
        for s in family.samples
    }
    return Scrape(reply.text, samples)


async def _participant(
    client: TestClient[Any, Any], who: Caller, session_id: int, seed: int
) -> tuple[WsParticipant, str]:
    ws = await client.ws_connect(
        f"/api/v1/sessions/{session_id}/bridge", headers={"Cookie": f"{COOKIE}={who.token}"}
    )
    p = await WsParticipant.join(ws, seed)
    return p, (await p.expect("joined"))["participant_id"]


async def _names(client: TestClient[Any, Any]) -> list[str]:
    """Every person's name the database holds: none may reach /metrics."""
    async with client.app[DB]() as db:
        citizens = list(await db.scalars(select(Citizen.full_name)))
        accounts = list(await db.scalars(select(Account.full_name)))
    return [n for n in citizens + accounts if n]


async def _live_session(client: TestClient[Any, Any], as_user: Login) -> tuple[int, Caller]:
    sid, _ = await add_agenda(client.app[DB], ["HS-MAU-001", "HS-MAU-003"])
    officer = await as_user("officer")
    await make_due(client.app[DB], client.app[CLOCK]())
    assert (await officer.post(f"/api/v1/sessions/{sid}/open")).status == 200
    return sid, officer


async def test_bridge_figures_follow_real_media(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    sid, _ = await _live_session(client, as_user)
    room = f"session-{sid}"
    central, central_id = await _participant(client, await as_user("chair"), sid, 101)
    commune, commune_id = await _participant(client, await as_user("focal1"), sid, 102)
    try:
        await central.ws.send_json({"type": "agenda", "action": "next"})  # a case's citizen
        await central.expect("agenda")
        await central.media_for(30)
        await commune.media_for(30)

        async def both_forwarded() -> bool:
            s = await scrape(client)
            return all(
                s.total("tiepdan_bridge_packets_out_total", participant=p) > 0
                for p in (central_id, commune_id)
            )

        await wait_for(both_forwarded, "media forwarded to both participants", 15)
        s = await scrape(client)
        assert s.total("tiepdan_bridge_rooms") >= 1
        assert s.total("tiepdan_bridge_participants", room=room) == 2
        assert s.value("tiepdan_bridge_participants", room=room, state="live") == 2
        for pid in (central_id, commune_id):
            who = {"room": room, "participant": pid}
            assert (s.value("tiepdan_bridge_packets_in_total", **who) or 0) > 0, pid
            assert (s.value("tiepdan_bridge_media_packets_in_total", **who) or 0) > 0, pid
            assert (s.value("tiepdan_bridge_bytes_in_total", **who) or 0) > 0, pid
            assert (s.value("tiepdan_bridge_bytes_out_total", **who) or 0) > 0, pid
            loss = s.value("tiepdan_bridge_loss_ratio", **who)
            assert loss is not None and 0 <= loss <= 1, (pid, loss)
            lost = s.value("tiepdan_bridge_packets_lost_total", **who)
            received = s.value("tiepdan_bridge_media_packets_in_total", **who)
            assert lost is not None and received is not None
            assert loss == pytest.approx(lost / (lost + received)), "the ratio of the counters"
        # The event loop's probe has read the loop's lag at least once.
        assert s.total("tiepdan_event_loop_lag_seconds_count") > 0
        lag = s.value("tiepdan_event_loop_lag_max_seconds")
        assert lag is not None and lag >= 0

        # The commune's peer asks for a key frame of the picture it receives (what a browser
        # does on picture loss): it is counted as received from the commune, and the
        # bridge's request to the central publisher as sent to it.
        endpoint = commune.endpoint
        assert endpoint is not None
        received_main = endpoint.slot("main")
        assert received_main.packets, "the commune receives the central picture"
        asked_before = s.value(
            "tiepdan_bridge_keyframe_requests_received_total", room=room, participant=commune_id
        )
        sent_before = s.value(
            "tiepdan_bridge_keyframe_requests_sent_total", room=room, participant=central_id
        )
        assert asked_before is not None and sent_before is not None
        mid = endpoint.slots["main"]["mid"]
        receiver = next(t for t in endpoint.pc.getTransceivers() if t.mid == mid).receiver
        await receiver._send_rtcp_pli(received_main.packets[-1].ssrc)

        async def counted() -> bool:
            s = await scrape(client)
            asked = s.value(
                "tiepdan_bridge_keyframe_requests_received_total",
                room=room,
                participant=commune_id,
            )
            sent = s.value(
                "tiepdan_bridge_keyframe_requests_sent_total", room=room, participant=central_id
            )
            return (asked or 0) > asked_before and (sent or 0) > sent_before

        await wait_for(counted, "the key-frame request counted both ways", 10)

        text = (await scrape(client)).text
        for name in await _names(client):
            assert name not in text, f"a person's name on /metrics: {name!r}"
    finally:
        for p in (central, commune):
            await p.ws.send_json({"type": "leave"})
            await p.expect("left")
            await p.close()

    # Gone from the room: their series go too (cardinality stays what is live).
    s = await scrape(client)
    assert s.total("tiepdan_bridge_packets_in_total", room=room) == 0
    assert not [k for k in s.samples if ("participant", central_id) in k[1]]


async def test_recorder_figures_follow_a_real_recording(
    client: TestClient[Any, Any], as_user: Login, config: Config
) -> None:
    sid, officer = await _live_session(client, as_user)
    before = await scrape(client)
    assert before.value("tiepdan_recording_tracks") == 0
    assert before.value("tiepdan_recording_uploads_pending") == 0
    assert before.value("tiepdan_recording_last_verification_ok") is None  # none ran yet
    stored_before = before.value("tiepdan_recording_files", state="stored")
    assert stored_before is not None
    central, central_id = await _participant(client, await as_user("chair"), sid, 101)
    commune, _ = await _participant(client, await as_user("focal1"), sid, 102)
    try:
        reply = await officer.post(f"/api/v1/sessions/{sid}/recording", {"active": True})
        assert reply.status == 200, reply.body
        await central.expect("recording", active=True)

        async def recording_four() -> bool:
            s = await scrape(client)
            return (
                s.value("tiepdan_recording_tracks") == 4
                and s.total("tiepdan_recording_written_frames_total", source="camera") > 10
            )

        await wait_for(recording_four, "four tracks recording, frames written", 20)
        s = await scrape(client)
        who = {"room": f"session-{sid}", "participant": central_id}
        camera = {**who, "source": "camera"}
        assert (s.value("tiepdan_recording_written_bytes_total", **camera) or 0) > 0
        assert s.value("tiepdan_recording_queue_frames", **camera) is not None
        assert s.value("tiepdan_recording_dropped_frames_total", **camera) is not None
        assert s.value("tiepdan_recording_keyframe_requests_total", **camera) is not None
        await central.ws.send_json({"type": "recording", "active": False})
        await central.expect("recording", active=False)
        await client.app[LIVE].events.drain()
        await client.app[RECORDINGS].settled()
    finally:
        await central.close()
        await commune.close()

    s = await scrape(client)
    assert s.value("tiepdan_recording_tracks") == 0
    assert s.value("tiepdan_recording_files", state="stored") == stored_before + 4
    assert s.value("tiepdan_recording_uploads_pending") == 0
    assert s.value("tiepdan_recording_uploads_failed") == 0

    assert await verify_command(config, sid) == 0
    s = await scrape(client)
    assert s.value("tiepdan_recording_last_verification_ok") == 1
    assert s.value("tiepdan_recording_last_verification_files") == 4
    at = s.value("tiepdan_recording_last_verification_timestamp_seconds")
    assert at is not None and abs(at - time.time()) < 120, at

    # A flipped byte in the store: the next check fails, and /metrics says so.
    body = (await officer.get(f"/api/v1/sessions/{sid}/recordings")).body
    video = next(i for i in body["items"] if i["track_kind"] == "video")
    flip_byte(Path(config.storage_url.removeprefix("file://")) / video["storage_key"])
    assert await verify_command(config, sid) == 1
    s = await scrape(client)
    assert s.value("tiepdan_recording_last_verification_ok") == 0
    latest = s.value("tiepdan_recording_last_verification_timestamp_seconds")
    assert latest is not None and latest >= at
