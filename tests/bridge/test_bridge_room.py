"""Join, forwarding, floor, mute, removal through the bridge's signaling, with aiortc peers."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from aiortc.rtp import RtpPacket

from bridge.config import BridgeConfig
from bridge.contracts import TrackInfo
from bridge.room import Room
from bridge.service import Bridge
from tests.bridge.bridgekit import FakeSink, is_run_of, wait_until
from tests.bridge.conftest import ROOM, ClientFactory


async def test_join_forwards_the_central_picture_untouched(
    client: ClientFactory, sink: FakeSink
) -> None:
    chair = await client("chair", central=True, chair=True, endpoint=1)
    commune = await client("xa-1", endpoint=2)
    await wait_until(
        lambda: commune.source_of("main") == "chair", lambda: str(commune.transport.sent[-3:])
    )
    await wait_until(
        lambda: len(commune.ep.slot("main").frames) >= 10, "10 frames in the commune's main slot"
    )
    got = commune.ep.slot("main").frames
    assert got[0] == chair.video.frames[0], "a subscriber starts on a key frame"
    assert chair.ep.camera.keyframe_requests >= 1, "the bridge asked the publisher for it"
    assert is_run_of(got, chair.ep.camera.sent), "frames are forwarded byte for byte"
    await wait_until(lambda: chair.source_of("main") == "xa-1", "the chair sees the commune")
    assert sink.kinds()[:2] == ["join", "join"]


def seqs_continuous(packets: Sequence[RtpPacket]) -> bool:
    seqs = [p.sequence_number for p in packets]
    return all((b - a) % 65536 == 1 for a, b in itertools.pairwise(seqs))


async def test_floor_switches_the_main_slot_with_continuous_rtp(
    client: ClientFactory, sink: FakeSink
) -> None:
    chair = await client("chair", central=True, chair=True)
    a = await client("xa-1")
    b = await client("xa-2")
    await wait_until(lambda: len(a.ep.slot("main").frames) >= 5, "a sees the chair first")
    assert a.source_of("main") == "chair"
    before = len(a.ep.slot("main").packets)

    await chair.send({"type": "floor", "participant_id": "xa-2"})
    await wait_until(lambda: a.source_of("main") == "xa-2", "a's main slot is given to xa-2")
    await wait_until(
        lambda: any(f in b.video.frames for f in a.ep.slot("main").frames[-3:]),
        "xa-2's frames arrive in a's main slot",
    )
    main = a.ep.slot("main")
    switched = next(i for i, f in enumerate(main.frames) if f in b.video.frames)
    assert main.frames[switched] == b.video.frames[0], "the new source starts on a key frame"
    assert seqs_continuous(main.packets), "sequence numbers run on across the switch"
    stamps = [p.timestamp for p in main.packets[before - 1 :]]
    assert all(0 <= (y - x) % 2**32 < 90000 for x, y in itertools.pairwise(stamps))
    assert a.transport.last("floor") == {"type": "floor", "participant_id": "xa-2", "by": "chair"}
    assert chair.source_of("main") == "xa-2"
    assert b.source_of("main") == "chair", "the floor holder sees the chair"
    floor = [e for e in sink.events if e.kind == "floor"]
    assert floor[0].participant_id == "xa-2" and floor[0].data == {"by": "chair"}


async def test_only_the_chair_gives_the_floor(client: ClientFactory) -> None:
    await client("chair", central=True, chair=True)
    a = await client("xa-1")
    await a.send({"type": "floor", "participant_id": "xa-1", "id": 7})
    await wait_until(lambda: a.errors(), "an error for the endpoint")
    assert a.errors()[-1] == {
        "type": "error",
        "code": "forbidden",
        "message": "only the chair may send floor",
        "request": "floor",
        "id": 7,
    }


async def test_chair_mutes_an_endpoint(client: ClientFactory, sink: FakeSink) -> None:
    chair = await client("chair", central=True, chair=True)
    a = await client("xa-1")
    await wait_until(lambda: chair.source_of("audio0") == "xa-1", "the chair hears xa-1")
    await chair.send(
        {"type": "mute", "source": "microphone", "participant_id": "xa-1", "muted": True}
    )
    await wait_until(lambda: a.transport.of_type("mute"), "xa-1 is told it is muted")
    assert a.transport.last("mute") == {
        "type": "mute",
        "participant_id": "xa-1",
        "source": "microphone",
        "muted": True,
        "by": "chair",
    }
    await wait_until(lambda: chair.source_of("audio0") is None, "the chair no longer hears xa-1")
    heard = len(chair.ep.slot("audio0").frames)
    await wait_until(lambda: len(a.ep.microphone.sent) > 60, "xa-1 keeps sending")
    assert len(chair.ep.slot("audio0").frames) <= heard + 3  # what was in flight
    assert [e.data for e in sink.events if e.kind == "mute"] == [
        {"source": "microphone", "muted": True, "by": "chair"}
    ]
    await chair.send(
        {"type": "mute", "source": "microphone", "participant_id": "xa-1", "muted": False}
    )
    await wait_until(lambda: chair.errors(), "unmuting someone else is refused")
    assert chair.errors()[-1]["code"] == "forbidden"
    await a.send({"type": "mute", "source": "microphone", "muted": False})
    await wait_until(lambda: chair.source_of("audio0") == "xa-1", "xa-1 unmuted itself")


async def test_chair_removes_an_endpoint(client: ClientFactory, sink: FakeSink) -> None:
    chair = await client("chair", central=True, chair=True)
    a = await client("xa-1")
    await chair.send({"type": "remove", "participant_id": "xa-1"})
    await wait_until(lambda: a.transport.closed == "removed", "xa-1's connection is closed")
    assert a.transport.last("removed") == {"type": "removed", "by": "chair"}
    await wait_until(lambda: chair.source_of("main") is None, "the chair's main slot is freed")
    left = chair.transport.last("participant")
    assert (left["action"], left["participant_id"], left["reason"]) == ("left", "xa-1", "removed")
    assert ("remove", "xa-1") in [(e.kind, e.participant_id) for e in sink.events]
    again = await client("xa-1", admit=False)
    assert again.errors()[-1]["code"] == "removed" and again.errors()[-1]["refused"] is True
    assert not again.transport.of_type("offer")


async def test_refused_join_gets_an_error_and_no_media(
    client: ClientFactory, bridge: object
) -> None:
    stranger = await client("stranger", admit=False)
    error = stranger.errors()[-1]
    assert error == {
        "type": "error",
        "code": "not-attendee",
        "message": "Tài khoản không tham dự phiên này",
        "request": "join",
        "refused": True,
    }
    assert not stranger.transport.of_type("offer") and not stranger.transport.of_type("joined")
    await stranger.send({"type": "stats"})
    await wait_until(lambda: len(stranger.errors()) == 2, "the connection still answers")
    assert stranger.errors()[-1]["code"] == "not-joined"


class _Track:
    def __init__(self, track_id: str) -> None:
        self.info = TrackInfo(track_id, "session-1", "p", None, "video", "camera", "VP8", 90_000)
        self.asked = 0

    def request_keyframe(self) -> None:
        self.asked += 1


def test_the_room_asks_the_publisher_of_that_track_only(sink: FakeSink) -> None:
    """What the recording service calls (`Room.request_keyframe`, a recorder that fell
    behind) reaches the one track."""
    room = Room("session-1", BridgeConfig(), sink)
    cam1, cam2 = _Track("cam-1"), _Track("cam-2")
    fakes: dict[str, Any] = {
        "a": SimpleNamespace(peer=SimpleNamespace(published={"camera": cam1})),
        "b": SimpleNamespace(peer=SimpleNamespace(published={"camera": cam2})),
        "c": SimpleNamespace(peer=None),
    }
    room.participants.update(fakes)
    assert room.request_keyframe("cam-2") is True
    assert (cam1.asked, cam2.asked) == (0, 1)
    assert room.request_keyframe("gone") is False


async def test_a_room_is_closed_only_when_nobody_is_in_it(
    bridge: Bridge, client: ClientFactory
) -> None:
    """What web/ does when a readiness tester leaves (`Bridge.close_room_if_empty`)."""
    assert await bridge.close_room_if_empty("nowhere") is False
    bridge.open_room("empty")
    assert await bridge.close_room_if_empty("empty") is True
    assert bridge.room("empty") is None
    tester = await client("tester", endpoint=2)
    assert await bridge.close_room_if_empty(ROOM) is False
    assert bridge.room(ROOM) is not None
    await tester.send({"type": "leave"})
    room = bridge.room(ROOM)
    assert room is not None
    await wait_until(lambda: not room.participants, "the tester gone from the room")
    assert await bridge.close_room_if_empty(ROOM) is True
    assert bridge.room(ROOM) is None
