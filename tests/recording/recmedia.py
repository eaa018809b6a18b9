"""Test media: real VP8/Opus frames encoded with PyAV, and ffprobe (not our code) to read files.

Also runnable by the kill test's child process, so it imports nothing from conftest.
"""

from __future__ import annotations

import asyncio
import errno
import json
import math
import subprocess
import time
from array import array
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import av

from bridge import EncodedFrame, TrackInfo

T0 = 1_750_000_000.0  # a fixed wall-clock for the first frame


def video_track(track_id: str = "cam-1", codec: str = "VP8") -> TrackInfo:
    return TrackInfo(
        track_id=track_id,
        room_id="room-7",
        participant_id="p-1",
        endpoint_id=12,
        kind="video",
        source="camera",
        codec=codec,
        clock_rate=90000,
    )


def audio_track(track_id: str = "mic-1") -> TrackInfo:
    return TrackInfo(
        track_id=track_id,
        room_id="room-7",
        participant_id="p-1",
        endpoint_id=12,
        kind="audio",
        source="microphone",
        codec="opus",
        clock_rate=48000,
    )


def vp8_frames(
    seconds: float,
    *,
    fps: int = 30,
    width: int = 320,
    height: int = 240,
    gop: int = 30,
    t0: float = T0,
    codec: str = "libvpx",
) -> list[EncodedFrame]:
    """Encode a moving bar; RTP-style 90 kHz timestamps starting at an arbitrary offset."""
    enc = av.CodecContext.create(codec, "w")
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"  # type: ignore[attr-defined]
    enc.time_base = Fraction(1, 90000)
    enc.framerate = Fraction(fps)  # type: ignore[attr-defined]
    enc.gop_size = gop  # type: ignore[attr-defined]
    enc.bit_rate = 200_000
    enc.options = {"deadline": "realtime", "cpu-used": "8", "preset": "ultrafast"}
    frames: list[EncodedFrame] = []
    step = 90000 // fps
    for i in range(round(seconds * fps)):
        frame = av.VideoFrame(width, height, "yuv420p")
        for j, plane in enumerate(frame.planes):
            row = bytearray([(j * 60 + 16) % 256]) * plane.line_size
            x = (i * 4) % max(1, plane.width - 8)
            row[x : x + 8] = b"\xeb" * 8
            plane.update(bytes(row) * plane.height)
        frame.pts = i * step
        frame.time_base = enc.time_base
        for packet in enc.encode(frame):  # type: ignore[attr-defined]
            frames.append(_frame(packet, 7_000 + (packet.pts or 0), t0))
    for packet in enc.encode(None):  # type: ignore[attr-defined]
        frames.append(_frame(packet, 7_000 + (packet.pts or 0), t0))
    return frames


def _frame(packet: av.Packet[Any], ts: int, t0: float) -> EncodedFrame:
    return EncodedFrame(
        data=bytes(packet),
        timestamp=ts,
        keyframe=packet.is_keyframe,
        wallclock=t0 + (ts - 7_000) / 90000,
    )


def opus_frames(seconds: float, *, t0: float = T0) -> list[EncodedFrame]:
    """20 ms Opus packets of a 440 Hz tone, 48 kHz RTP timestamps."""
    enc = av.CodecContext.create("libopus", "w")
    enc.sample_rate = 48000
    enc.layout = "stereo"
    enc.format = "s16"
    enc.time_base = Fraction(1, 48000)
    out: list[EncodedFrame] = []
    count = round(seconds * 50)
    for i in range(count + 1):
        frame = None
        if i < count:
            samples = array(
                "h",
                (
                    int(6000 * math.sin(2 * math.pi * 440 * (n + i * 960) / 48000))
                    for n in range(960)
                    for _ in (0, 1)
                ),
            )
            frame = av.AudioFrame(format="s16", layout="stereo", samples=960)
            frame.planes[0].update(samples.tobytes())
            frame.sample_rate = 48000
            frame.pts = i * 960
            frame.time_base = enc.time_base
        for packet in enc.encode(frame):
            ts = 31_000 + len(out) * 960
            out.append(EncodedFrame(bytes(packet), ts, True, t0 + len(out) * 0.02))
    return out


def ffprobe(path: Path) -> dict[str, Any]:
    """What ffprobe (not our code) says about a file: format and streams, as JSON."""
    result = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_format",
            "-show_streams",
            "-count_packets",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def probed_duration(path: Path) -> float:
    return float(ffprobe(path)["format"]["duration"])


async def wait_until(condition: Callable[[], bool], what: str, within_s: float = 10.0) -> None:
    """Wait for a condition with a deadline; the failure says what did not happen."""
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within_s} s waiting for: {what}")
        await asyncio.sleep(0.002)


class FillingFile:
    """A spool file on a disk that fills up after `room` bytes."""

    def __init__(self, path: Path, room: int) -> None:
        self.f: BinaryIO = open(path, "xb", buffering=0)  # noqa: SIM115
        self.room = room

    def write(self, data: bytes) -> int:
        if self.f.tell() + len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.f.write(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.f.seek(offset, whence)

    def tell(self) -> int:
        return self.f.tell()

    def fileno(self) -> int:
        return self.f.fileno()

    def close(self) -> None:
        self.f.close()
