"""Published tracks and receive slots without a network: rate limits, switching, queues."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.config import BridgeConfig
from bridge.contracts import EncodedFrame, TrackInfo
from bridge.forwarding import PublishedTrack, Slot
from tests.bridge.bridgekit_media import vp8_clip


@dataclass
class FakeClock:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now


def track(pid: str, clock: FakeClock, plis: list[str]) -> PublishedTrack:
    info = TrackInfo(f"{pid}/camera/1", "room", pid, 1, "video", "camera", "VP8", 90000)
    return PublishedTrack(
        info, BridgeConfig(keyframe_request_interval=0.5), lambda: plis.append(pid), clock
    )


class Feeder:
    """Sends clip frames into a published track as RTP would."""

    def __init__(self, published: PublishedTrack, seed: int) -> None:
        self.track = published
        self.clip = vp8_clip(seed)
        self.seq = 1000 * seed
        self.ts = 77 * seed
        self.index = 0
        self.wall = 10.0

    def frame(self, index: int | None = None) -> bytes:
        self.index = self.index if index is None else index
        data = self.clip.frames[self.index % len(self.clip.frames)]
        self.index += 1
        chunks = [data[i : i + 1200] for i in range(0, len(data), 1200)]
        for i, chunk in enumerate(chunks):
            payload = (b"\x10" if i == 0 else b"\x00") + chunk
            self.track.on_rtp(self.seq % 65536, self.ts, i == len(chunks) - 1, payload, self.wall)
            self.seq += 1
        self.ts += 3000
        self.wall += 1 / 30
        return data


async def drain(slot: Slot) -> list[tuple[bytes, int]]:
    out = []
    while slot._queue:
        packet = await slot.recv()
        out.append((bytes(packet), int(packet.pts or 0)))
    return out


async def test_keyframe_requests_are_rate_limited_and_never_lost() -> None:
    clock, plis = FakeClock(), list[str]()
    t = track("a", clock, plis)
    feeder = Feeder(t, 1)
    feeder.frame(0)  # nobody subscribes yet: counted, and no key frame asked for
    t.request_keyframe()
    t.request_keyframe()
    assert plis == ["a"], "one request per interval"
    clock.now += 0.6
    feeder.frame()
    assert plis == ["a", "a"], "the held request goes out with the next packet"
    assert t.keyframe_requests_sent == 2


async def test_a_slot_switch_starts_on_a_key_frame_with_continuous_timestamps() -> None:
    clock, plis = FakeClock(), list[str]()
    a, b = track("a", clock, plis), track("b", clock, plis)
    fa, fb = Feeder(a, 1), Feeder(b, 2)
    slot = Slot("video", "main", 0, BridgeConfig())
    slot.set_live(True)
    slot.switch(a)
    sent = [fa.frame(0), fa.frame(), fa.frame()]
    got = await drain(slot)
    assert [d for d, _ in got] == sent
    assert [ts for _, ts in got] == [0, 3000, 6000]

    clock.now += 1
    fb.wall = fa.wall  # b's next frame arrives one frame after a's last
    slot.switch(b)
    assert "b" in plis, "the new source is asked for a key frame"
    fb.frame(5)  # a delta frame: not a place to start
    key = fb.frame(0)
    got = await drain(slot)
    assert [d for d, _ in got] == [key]
    assert got[0][1] == 6000 + round(2 / 30 * 90000), "the clock runs on by the wall time between"
    slot.stop()


async def test_a_slow_subscriber_drops_to_the_next_key_frame() -> None:
    clock, plis = FakeClock(), list[str]()
    a = track("a", clock, plis)
    feeder = Feeder(a, 1)
    slot = Slot("video", "main", 0, BridgeConfig(slot_queue_frames=3))
    slot.set_live(True)
    slot.switch(a)
    feeder.frame(0)
    plis.clear()
    clock.now += 1
    for _ in range(5):
        feeder.frame()
    assert plis == ["a"], "falling behind asks for a key frame"
    assert await drain(slot) == [], "nothing until it comes"
    clock.now += 1
    key = feeder.frame(0)
    assert [d for d, _ in await drain(slot)] == [key]
    assert slot.frames_dropped >= 3
    slot.stop()


async def test_a_muted_track_forwards_nothing_and_reports_silence() -> None:
    clock = FakeClock()
    info = TrackInfo("a/microphone/1", "room", "a", 1, "audio", "microphone", "opus", 48000)
    t = PublishedTrack(info, BridgeConfig(), lambda: None, clock)
    got: list[EncodedFrame] = []

    class Sub:
        def on_frame(self, track: TrackInfo, frame: EncodedFrame) -> None:
            got.append(frame)

        def on_track_ended(self, track: TrackInfo) -> None:
            got.clear()

    t.subscribe(Sub())
    t.on_rtp(1, 960, True, b"opus", 1.0, 30)
    assert len(got) == 1 and t.take_audio_level() == 30
    t.muted = True
    t.on_rtp(2, 1920, True, b"opus", 1.02, 30)
    assert len(got) == 1 and t.take_audio_level() == 127
    t.end()
    assert got == []


async def test_the_latency_hook_runs_from_the_last_packets_arrival_to_the_departure() -> None:
    """The benchmark's latency: from the socket arrival of a frame's last packet (stamped
    by the receive path) to its departure to the subscriber, both on the wall clock; on
    the way out at once and through the queue alike."""
    import time

    clock, plis = FakeClock(), list[str]()
    a = track("a", clock, plis)
    slot = Slot("video", "main", 0, BridgeConfig())
    seen: list[float] = []
    slot.on_sent = seen.append
    sent_now: list[bytes] = []

    def send_now(data: bytes, ts: int) -> bool:
        sent_now.append(data)
        return True

    slot.send_now = send_now
    slot.set_live(True)
    slot.switch(a)
    key = vp8_clip(1).frames[0]
    arrived = time.time() - 0.25  # its last packet came in 250 ms ago
    slot.on_frame(a.info, EncodedFrame(key, 1000, True, arrived - 0.01, arrived))
    assert sent_now == [key] and len(seen) == 1 and 0.25 <= seen[0] < 1.0, seen
    slot.on_frame(a.info, EncodedFrame(key, 4000, True, arrived, 0.0))  # arrival unknown
    assert len(seen) == 1, "a frame whose arrival is not known is not measured"
    slot.send_now = None  # the sender is busy: frames wait in the queue
    slot.on_frame(a.info, EncodedFrame(key, 7000, True, arrived, arrived))
    slot.on_frame(a.info, EncodedFrame(key, 9000, True, arrived, arrived))
    await slot.next_frame()  # the sender takes one, sends it, and asks for the next
    await slot.next_frame()
    assert len(seen) == 2 and 0.25 <= seen[1] < 1.0, seen
    slot.stop()
