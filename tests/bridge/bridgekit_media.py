"""Synthetic encoded media for the bridge tests, generated once with PyAV.

Video: VP8 with a single key frame at index 0, so every key frame a subscriber sees was
asked for. Audio: 20 ms Opus packets of a tone.
"""

from __future__ import annotations

import math
import random
import struct
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from typing import Any

import av


@dataclass(frozen=True)
class Clip:
    frames: tuple[bytes, ...]
    keyframes: tuple[bool, ...]
    clock_rate: int
    ticks_per_frame: int


@cache
def vp8_clip(seed: int = 7, count: int = 30, width: int = 160, height: int = 120) -> Clip:
    """Different seeds give different pictures, so a test can tell publishers apart."""
    codec = av.CodecContext.create("libvpx", "w")
    assert isinstance(codec, av.VideoCodecContext)
    codec.width, codec.height = width, height
    codec.pix_fmt = "yuv420p"
    codec.time_base = Fraction(1, 30)
    codec.framerate = Fraction(30)
    codec.gop_size = 100_000  # one key frame only
    codec.bit_rate = 300_000
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    rng = random.Random(seed)
    out: list[av.Packet[Any]] = []
    for i in range(count):
        frame = av.VideoFrame(width, height, "yuv420p")
        for plane in frame.planes:
            noise = (
                rng.getrandbits(8) if (j // 7 + i) % 3 == 0 else 128
                for j in range(plane.buffer_size)
            )
            plane.update(bytes(noise))
        frame.pts = i
        out += codec.encode(frame)
    out += codec.encode(None)
    return Clip(tuple(bytes(p) for p in out), tuple(p.is_keyframe for p in out), 90000, 3000)


@cache
def opus_clip(count: int = 50) -> Clip:
    codec = av.CodecContext.create("libopus", "w")
    assert isinstance(codec, av.AudioCodecContext)
    codec.sample_rate = 48000
    codec.layout = "mono"
    codec.format = "s16"
    codec.bit_rate = 32000
    codec.time_base = Fraction(1, 48000)
    out: list[av.Packet[Any]] = []
    for i in range(count + 2):
        samples = [
            int(8000 * math.sin(2 * math.pi * 440 * (i * 960 + n) / 48000)) for n in range(960)
        ]
        frame = av.AudioFrame(format="s16", layout="mono", samples=960)
        frame.sample_rate = 48000
        frame.pts = i * 960
        frame.planes[0].update(struct.pack(f"<{len(samples)}h", *samples))
        out += codec.encode(frame)
    packets = tuple(bytes(p) for p in out[:count])
    return Clip(packets, tuple(True for _ in packets), 48000, 960)


@cache
def vp8_plain_clip(width: int = 640, height: int = 360, count: int = 30) -> Clip:
    """A picture of the size a readiness check asks for, cheap to make and to send: grey
    with a white band that moves down, so that every frame differs a little."""
    codec = av.CodecContext.create("libvpx", "w")
    assert isinstance(codec, av.VideoCodecContext)
    codec.width, codec.height = width, height
    codec.pix_fmt = "yuv420p"
    codec.time_base = Fraction(1, 30)
    codec.framerate = Fraction(30)
    codec.gop_size = 100_000  # one key frame only
    codec.bit_rate = 300_000
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    out: list[av.Packet[Any]] = []
    for i in range(count):
        frame = av.VideoFrame(width, height, "yuv420p")
        luma, *chroma = frame.planes
        band = (i * 8) % (height - 16)
        row = luma.line_size
        luma.update(
            b"\x80" * (row * band) + b"\xf0" * (row * 16) + b"\x80" * (row * (height - band - 16))
        )
        for plane in chroma:
            plane.update(b"\x80" * plane.buffer_size)
        frame.pts = i
        out += codec.encode(frame)
    out += codec.encode(None)
    return Clip(tuple(bytes(p) for p in out), tuple(p.is_keyframe for p in out), 90000, 3000)
