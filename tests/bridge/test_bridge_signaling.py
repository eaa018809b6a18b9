"""Malformed messages, reconnection, recording tap, agenda, speakers and figures."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest

from bridge.config import BridgeConfig
from bridge.contracts import EncodedFrame, TrackInfo
from bridge.service import Bridge
from tests.bridge.bridgekit import FakeSink, is_run_of, wait_until
from tests.bridge.conftest import FAST, ROOM, ClientFactory

MALFORMED = [
    ("not a dict", "bad-message", "a message must be a JSON object"),
    ({"no": "type"}, "bad-message", "field 'type' is missing"),
    ({"type": "dance"}, "unknown-type", "unknown message type 'dance'"),
    ({"type": 3}, "unknown-type", "unknown message type 3"),
    ({"type": "answer"}, "bad-message", "field 'sdp' is missing"),
    ({"type": "answer", "sdp": "v=0 garbage"}, "bad-sdp", None),
    (
        {"type": "ice", "candidate": "x"},
        "bad-message",
        "field 'candidate' must be an object or null",
    ),
    (
        {"type": "ice", "candidate": {"candidate": "candidate:1 1 udp", "sdpMid": "0"}},
        "bad-candidate",
        None,
    ),
    (
        {"type": "ice", "candidate": {"candidate": "candidate:1 1 udp 1 1.2.3.4 5 typ host"}},
        "bad-message",
        "a candidate needs 'sdpMid' or 'sdpMLineIndex'",
    ),
    (
        {"type": "mute", "source": "nose", "muted": True},
        "bad-message",
        "field 'source' must be one of microphone, camera; got 'nose'",
    ),
    (
        {"type": "mute", "source": "camera", "muted": "yes"},
        "bad-message",
        "field 'muted' must be true or false",
    ),
    (
        {"type": "floor", "participant_id": "ghost"},
        "not-found",
        "no participant 'ghost' in this room",
    ),
    (
        {"type": "pin", "participant_id": "x" * 500, "pinned": True},
        "bad-message",
        "field 'participant_id' is longer than 200 characters",
    ),
    (
        {"type": "agenda", "action": "goto"},
        "bad-message",
        "field 'item_id' is required when action is 'goto'",
    ),
    ({"type": "publish", "source": "screen"}, "bad-message", "field 'active' is missing"),
    ({"type": "remove", "participant_id": "chair"}, "bad-target", "use 'leave' to leave the room"),
    ({"type": "join"}, "already-joined", "already joined"),
]


async def test_malformed_messages_get_precise_errors(client: ClientFactory) -> None:
    chair = await client("chair", central=True, chair=True)
    a = await client("xa-1")
    for message, code, text in MALFORMED:
        count = len(chair.errors())
        await chair.send(message)
        await wait_until(lambda c=count: len(chair.errors()) > c, f"an error for {message!r}")  # type: ignore[misc]
        error = chair.errors()[-1]
        assert error["code"] == code, (message, error)
        if text is not None:
            assert error["message"] == text
    assert chair.transport.closed is None, "the connection stays usable"
    await chair.send({"type": "floor", "participant_id": "xa-1"})
    await wait_until(
        lambda: a.source_of("main") is not None and chair.source_of("main") == "xa-1",
        "floor still works",
    )
    await wait_until(lambda: len(a.ep.slot("main").frames) >= 3, "media still flows")


async def test_reconnection_within_the_grace_period_keeps_the_place(
    client: ClientFactory, bridge: Bridge, sink: FakeSink
) -> None:
    chair = await client("chair", central=True, chair=True)
    a = await client("xa-1")
    await chair.send({"type": "floor", "participant_id": "xa-1"})
    await wait_until(lambda: chair.source_of("main") == "xa-1", "xa-1 has the floor")
    await a.conn.closed()  # the WebSocket dropped
    await wait_until(
        lambda: any(
            m.get("participant_id") == "xa-1" and m.get("state") == "away"
            for m in chair.transport.of_type("participant")
        ),
        "the chair sees xa-1 away",
    )
    back = await client("xa-1", admit=False)
    joined = back.transport.last("joined")
    assert joined["resumed"] is True and joined["floor"] == "xa-1"
    await wait_until(lambda: back.source_of("main") == "chair", "xa-1 is back with the floor")
    await wait_until(
        lambda: is_run_of(chair.ep.slot("main").frames[-3:], back.ep.camera.sent),
        "the chair sees xa-1's new connection",
    )
    assert "leave" not in sink.kinds()


@pytest.mark.parametrize("bridge_config", [BridgeConfig(grace_period=0.2, speaker_tick=0.05)])
async def test_the_place_is_lost_after_the_grace_period(
    client: ClientFactory, sink: FakeSink
) -> None:
    chair = await client("chair", central=True, chair=True)
    a = await client("xa-1")
    await a.conn.closed()
    await wait_until(lambda: "leave" in sink.kinds(), "xa-1 leaves after the grace period")
    leave = next(e for e in sink.events if e.kind == "leave")
    assert (leave.participant_id, leave.data) == ("xa-1", {"reason": "timeout"})
    await wait_until(lambda: chair.source_of("main") is None, "its slot is freed")


async def test_a_second_connection_replaces_the_first(client: ClientFactory) -> None:
    first = await client("xa-1")
    second = await client("xa-1", admit=False)
    await wait_until(lambda: first.transport.closed == "replaced", "the first connection is closed")
    assert first.errors()[-1]["code"] == "replaced"
    assert second.transport.last("joined")["resumed"] is True


@dataclass
class Probe:
    """A frame subscriber, as a recorder would be."""

    frames: dict[str, list[EncodedFrame]] = field(default_factory=dict)
    ended: list[str] = field(default_factory=list)

    def on_frame(self, track: TrackInfo, frame: EncodedFrame) -> None:
        self.frames.setdefault(f"{track.participant_id}:{track.source}", []).append(frame)

    def on_track_ended(self, track: TrackInfo) -> None:
        self.ended.append(track.track_id)


async def test_recording_tap_gets_every_published_track(
    client: ClientFactory, bridge: Bridge, sink: FakeSink
) -> None:
    probe = Probe()
    bridge.open_room(ROOM).add_frame_subscriber(probe)
    chair = await client("chair", central=True, chair=True)
    a = await client("xa-1")
    await wait_until(
        lambda: all(
            len(probe.frames.get(k, [])) >= 5
            for k in ("chair:camera", "xa-1:camera", "chair:microphone", "xa-1:microphone")
        ),
        lambda: f"frames per track: { {k: len(v) for k, v in probe.frames.items()} }",
    )
    video = probe.frames["xa-1:camera"]
    assert video[0].keyframe and not video[1].keyframe
    assert is_run_of([f.data for f in video], a.ep.camera.sent)
    assert all(y.timestamp > x.timestamp for x, y in itertools.pairwise(video))
    assert is_run_of([f.data for f in probe.frames["chair:microphone"]], chair.ep.microphone.sent)

    await chair.send({"type": "recording", "active": True})
    await wait_until(lambda: a.transport.of_type("recording"), "everyone sees the recording mark")
    assert a.transport.last("recording") == {"type": "recording", "active": True, "by": "chair"}
    assert [e.data for e in sink.events if e.kind == "recording"] == [{"active": True}]

    await a.send({"type": "leave"})
    await wait_until(
        lambda: any(t.startswith("xa-1/camera") for t in probe.ended), "xa-1's tracks end"
    )
    assert a.transport.closed == "left"


async def test_agenda_next_goes_to_web_and_comes_back_to_everyone(
    client: ClientFactory, bridge: Bridge, sink: FakeSink
) -> None:
    chair = await client("chair", central=True, chair=True)
    a = await client("xa-1")
    await chair.send({"type": "agenda", "action": "next"})
    await wait_until(lambda: "agenda" in sink.kinds(), "the agenda event")
    assert [e.data for e in sink.events if e.kind == "agenda"] == [
        {"action": "next", "item_id": None}
    ]
    item = {"item_id": "17", "code": "HS-2026-017", "citizen": None}  # withheld by web/
    bridge.open_room(ROOM).set_agenda(item)
    await wait_until(lambda: a.transport.of_type("agenda"), "the agenda reaches xa-1")
    assert a.transport.last("agenda") == {"type": "agenda", "item": item}


async def test_the_floor_follows_the_agenda_to_the_case_endpoint(
    client: ClientFactory, bridge: Bridge, sink: FakeSink
) -> None:
    """`set_agenda` with the item's endpoint gives the floor to whoever sits there (never
    the chair), after the agenda message; an endpoint nobody is at takes the floor back."""
    chair = await client("chair", central=True, chair=True, endpoint=1)
    a = await client("xa-1", endpoint=2)
    b = await client("xa-2", endpoint=3)
    room = bridge.open_room(ROOM)
    room.set_agenda({"item_id": 1}, floor_endpoint=3, by="chair")
    await wait_until(lambda: a.transport.of_type("floor"), "the floor reaches xa-1")
    assert a.transport.last("floor") == {"type": "floor", "participant_id": "xa-2", "by": "chair"}
    types = [m["type"] for m in a.transport.sent if m["type"] in ("agenda", "floor")]
    assert types == ["agenda", "floor"]
    assert ("floor", "xa-2") in [(e.kind, e.participant_id) for e in sink.events]
    await wait_until(lambda: chair.source_of("main") == "xa-2", "the chair's main picture")

    room.set_agenda({"item_id": 2}, floor_endpoint=2, by="chair")
    await wait_until(lambda: b.transport.last("floor")["participant_id"] == "xa-1", "to xa-1")
    room.set_agenda({"item_id": 3}, floor_endpoint=1, by="chair")  # only the chair is there
    await wait_until(lambda: b.transport.last("floor")["participant_id"] is None, "taken back")
    floors = len(b.transport.of_type("floor"))
    room.set_agenda({"item_id": 4})  # no endpoint: the floor is left alone
    await wait_until(lambda: b.transport.last("agenda")["item"] == {"item_id": 4}, "item 4")
    assert len(b.transport.of_type("floor")) == floors


@pytest.mark.parametrize("bridge_config", [BridgeConfig(speaker_tick=0.05, audio_slots=1)])
async def test_dominant_speaker_and_audio_follow_the_loudest(
    client: ClientFactory, sink: FakeSink
) -> None:
    chair = await client("chair", central=True, chair=True)
    a = await client("xa-1")
    b = await client("xa-2")
    b.ep.microphone.level = 20  # -20 dBov: talking
    await wait_until(lambda: chair.transport.of_type("speaker"), "a speaker message")
    assert chair.transport.last("speaker") == {"type": "speaker", "participant_id": "xa-2"}
    assert ("speaker", "xa-2") in [(e.kind, e.participant_id) for e in sink.events]
    await wait_until(lambda: a.source_of("audio0") == "xa-2", "xa-1's one audio slot goes to xa-2")
    await wait_until(
        lambda: "xa-2" in {a.source_of("thumbnail0"), a.source_of("thumbnail1")},
        "xa-1 sees the dominant speaker",
    )
    assert b.source_of("audio0") != "xa-2", "never oneself"


async def test_stats_reports_figures_per_participant(client: ClientFactory) -> None:
    await client("chair", central=True, chair=True)
    a = await client("xa-1")
    await wait_until(lambda: len(a.ep.slot("main").frames) >= 40, "some media")
    await a.send({"type": "stats"})
    await wait_until(lambda: a.transport.of_type("stats"), "a stats reply")
    figures = a.transport.last("stats")["participants"]
    assert set(figures) == {"chair", "xa-1"}
    camera = figures["chair"]["inbound"]["camera"]
    assert camera["frames"] > 0 and camera["bitrate_kbps"] > 0 and camera["frame_rate"] > 0
    assert set(camera) >= {"packets_lost", "jitter_ms"}
    main = figures["xa-1"]["outbound"]["main"]
    assert main["frames_sent"] > 0 and main["source"].startswith("chair/camera/")
    assert set(main) >= {"rtt_ms", "fraction_lost", "jitter_ms", "bitrate_kbps", "frame_rate"}


async def test_sender_reports_come_for_the_slots_that_send(client: ClientFactory) -> None:
    # One RTCP task per peer sends them (not one timer per slot), and only for slots
    # that sent media since their last report (RFC 3550 6.4).
    await client("chair", central=True, chair=True)
    a = await client("xa-1")
    main = a.ep.slot("main")
    await wait_until(lambda: len(main.sender_reports) >= 2, "two sender reports for main")
    first, second = main.sender_reports[:2]
    ssrc = main.packets[0].ssrc
    assert first.ssrc == second.ssrc == ssrc
    assert 0 < first.sender_info.packet_count < second.sender_info.packet_count
    assert first.sender_info.octet_count < second.sender_info.octet_count
    assert second.sender_info.ntp_timestamp > first.sender_info.ntp_timestamp
    assert first.sender_info.packet_count <= len(main.packets) + 5
    idle = a.ep.slot("thumbnail2")
    assert not idle.packets and not idle.sender_reports, "an idle slot is no sender"


async def test_restart_renegotiates_and_media_resumes(client: ClientFactory) -> None:
    chair = await client("chair", central=True, chair=True)
    a = await client("xa-1")
    await wait_until(lambda: len(a.ep.slot("main").frames) >= 3, "media before")
    await a.send({"type": "restart"})
    await a.negotiate()
    await wait_until(lambda: len(a.ep.slot("main").frames) >= 3, "media after a new connection")
    assert is_run_of(a.ep.slot("main").frames, chair.ep.camera.sent)


def test_fast_config_is_valid() -> None:
    assert FAST.grace_period == 30.0


async def test_a_closed_room_refuses_and_the_bridge_survives_a_faulty_authorizer(
    client: ClientFactory, bridge: Bridge, authorizer: object
) -> None:
    a = await client("xa-1")
    await bridge.close_room(ROOM)
    await wait_until(lambda: a.transport.closed == "room-closed", "the client is disconnected")

    async def broken(room_id: str, principal: object) -> object:
        raise RuntimeError("database down")

    authorizer.authorize = broken  # type: ignore[attr-defined]
    b = await client("xa-2")
    assert b.errors()[-1]["code"] == "internal"
    await b.send({"type": "stats"})
    await wait_until(lambda: b.errors()[-1]["code"] == "not-joined", "still answering")
