"""Synthetic media for the benchmark: encoded once with PyAV, then replayed as packets.

The load generator must stay cheap, so nothing is encoded per frame: a `Replay` track
hands aiortc's sender the pre-encoded frames (`av.Packet`s, as the bridge's slots do) in
real time, looping. The clip has one key frame (index 0); a keyframe request makes it
the next frame sent, as a browser would answer a PLI.

For the end-to-end latency, a replay can append a mark to each frame: `MARK` and the
moment (`time.perf_counter()`) the frame is handed to the sender. The bridge forwards a
publisher's encoded frames byte for byte (it rewrites the RTP headers, SSRC, sequence
numbers and timestamps, never the payload), so a subscriber in the same process reads
the mark back and has the frame's delay on one clock. Nothing in the benchmark decodes
the marked frames; the decoding baseline gets unmarked ones.
"""

from __future__ import annotations

import asyncio
import math
import random
import struct
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
from aiortc.mediastreams import MediaStreamTrack

VIDEO_WIDTH, VIDEO_HEIGHT, VIDEO_FPS = 640, 360, 15
VIDEO_BITRATE = 500_000
OPUS_FRAME = 960  # 20 ms at 48 kHz, as browsers send
MARK = b"TDb\x01"
MARK_FORMAT = struct.Struct("!4sd")  # the mark, then the send time: ends a marked frame
MARK_SIZE = MARK_FORMAT.size


def sent_at(tail: bytes) -> float | None:
    """The send time in a marked frame's last `MARK_SIZE` bytes; None if it has no mark."""
    if len(tail) != MARK_SIZE or tail[:4] != MARK:
        return None
    return float(MARK_FORMAT.unpack(tail)[1])


@dataclass(frozen=True, slots=True)
class Clip:
    kind: str  # "audio" or "video"
    frames: tuple[bytes, ...]
    clock_rate: int
    ticks_per_frame: int

    @property
    def fps(self) -> float:
        return self.clock_rate / self.ticks_per_frame


def vp8_clip(seconds: float = 2.0, seed: int = 7) -> Clip:
    """640x360 VP8 at 15 fps, about 500 kbit/s: grainy diagonal stripes that move, so
    every frame costs bits as a camera's would."""
    codec = av.CodecContext.create("libvpx", "w")
    assert isinstance(codec, av.VideoCodecContext)
    codec.width, codec.height = VIDEO_WIDTH, VIDEO_HEIGHT
    codec.pix_fmt = "yuv420p"
    codec.time_base = Fraction(1, VIDEO_FPS)
    codec.framerate = Fraction(VIDEO_FPS)
    codec.gop_size = 100_000  # one key frame only: later ones are asked for
    codec.bit_rate = VIDEO_BITRATE
    codec.options = {
        "deadline": "realtime",
        "cpu-used": "8",
        "lag-in-frames": "0",
        "max-intra-rate": "300",  # a key frame at most 3 times an average frame, as in calls
    }
    rng = random.Random(seed)
    width = VIDEO_WIDTH * 2
    row = bytes(
        max(0, min(255, int(128 + 90 * math.sin(x / 11) + rng.randint(-12, 12))))
        for x in range(width)
    )
    packets: list[bytes] = []
    for i in range(round(seconds * VIDEO_FPS)):
        frame = av.VideoFrame(VIDEO_WIDTH, VIDEO_HEIGHT, "yuv420p")
        for p, plane in enumerate(frame.planes):
            w, h = plane.line_size, plane.buffer_size // plane.line_size
            rows = (row[(y + 4 * i + 50 * p) % w :][:w] for y in range(h))
            plane.update(b"".join(r.ljust(w, b"\x80") for r in rows))
        frame.pts = i
        packets += [bytes(p) for p in codec.encode(frame)]
    packets += [bytes(p) for p in codec.encode(None)]
    return Clip("video", tuple(packets), 90000, 90000 // VIDEO_FPS)


def opus_clip(seconds: float = 1.0) -> Clip:
    """Mono Opus in 20 ms packets: a 440 Hz tone."""
    codec = av.CodecContext.create("libopus", "w")
    assert isinstance(codec, av.AudioCodecContext)
    codec.sample_rate = 48000
    codec.layout = "mono"
    codec.format = "s16"
    codec.bit_rate = 32000
    codec.time_base = Fraction(1, 48000)
    count = round(seconds * 48000 / OPUS_FRAME)
    packets: list[bytes] = []
    for i in range(count + 2):
        start = i * OPUS_FRAME
        samples = (
            int(8000 * math.sin(2 * math.pi * 440 * (start + n) / 48000)) for n in range(OPUS_FRAME)
        )
        frame = av.AudioFrame(format="s16", layout="mono", samples=OPUS_FRAME)
        frame.sample_rate = 48000
        frame.pts = start
        frame.planes[0].update(struct.pack(f"<{OPUS_FRAME}h", *samples))
        packets += [bytes(p) for p in codec.encode(frame)]
    return Clip("audio", tuple(packets[:count]), 48000, OPUS_FRAME)


class Replay(MediaStreamTrack):
    """Plays a clip of encoded frames in real time, looping past its key frame; `mark`ed,
    each frame ends with its send time. A paused replay sends nothing, and resumes at its
    own pace (no burst to catch up)."""

    def __init__(self, clip: Clip, mark: bool = False) -> None:
        super().__init__()
        self._mark = mark
        self._running = asyncio.Event()
        self._running.set()
        self.kind = clip.kind
        self._clip = clip
        self._interval = 1 / clip.fps
        self._time_base = Fraction(1, clip.clock_rate)
        self._index = 0
        self._start: float | None = None
        self.sent = 0  # frames handed to the sender

    def request_keyframe(self) -> None:
        self._index = 0

    def pause(self, paused: bool) -> None:
        if paused:
            self._running.clear()
        else:
            self._running.set()

    async def recv(self) -> av.Packet[Any]:
        loop = asyncio.get_running_loop()
        if not self._running.is_set():
            await self._running.wait()
            self._start = None
        if self._start is None:
            self._start = loop.time() - self.sent * self._interval
        delay = self._start + self.sent * self._interval - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)  # media pacing
        frames = self._clip.frames
        data = frames[self._index]
        packet = av.Packet(
            data + MARK_FORMAT.pack(MARK, time.perf_counter()) if self._mark else data
        )
        self._index = self._index + 1 if self._index + 1 < len(frames) else 1
        packet.pts = self.sent * self._clip.ticks_per_frame
        packet.time_base = self._time_base
        self.sent += 1
        return packet
