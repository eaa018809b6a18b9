"""Generated media for the sample archive and the replay benchmark: real VP8 and Opus frames
(encoded with PyAV's libvpx and libopus), shaped as the bridge hands them to the recorder.

Each endpoint's camera is one flat colour with a moving bar, so that a test (or a person)
tells the endpoints apart on screen by colour; each microphone is a tone of its own pitch.
Long tracks repeat one encoded loop with shifted timestamps (the loop starts with a
keyframe), so that a two-hour file costs seconds to make, not the encoding of two hours."""

from __future__ import annotations

import math
import random
from array import array
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import av

from bridge import EncodedFrame

VIDEO_CLOCK = 90_000
AUDIO_CLOCK = 48_000
_OPUS_SAMPLES = 960  # 20 ms at 48 kHz
_TS0 = 3_000  # RTP timestamps start at an arbitrary offset, as they do from a browser


def _yuv(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """BT.601 limited range, as libvpx expects yuv420p."""
    r, g, b = rgb
    y = 16 + (65.738 * r + 129.057 * g + 25.064 * b) / 256
    u = 128 + (-37.945 * r - 74.494 * g + 112.439 * b) / 256
    v = 128 + (112.439 * r - 94.154 * g - 18.285 * b) / 256
    return round(y), round(u), round(v)


def _encode_video_loop(
    rgb: tuple[int, int, int],
    loop_s: float,
    fps: int,
    width: int,
    height: int,
    bit_rate: int,
    grain: int,
) -> list[tuple[int, bytes, bool]]:
    """One loop: (timestamp from 0, frame bytes, keyframe); keyframes every second. `grain`
    (0–60) adds changing noise to the picture, so that the encoder spends its bit rate as it
    does on a real camera's picture instead of compressing a flat colour to nothing."""
    enc: Any = av.CodecContext.create("libvpx", "w")
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.time_base = Fraction(1, VIDEO_CLOCK)
    enc.framerate = Fraction(fps)
    enc.gop_size = fps
    enc.bit_rate = bit_rate
    enc.options = {"deadline": "realtime", "cpu-used": "8"}
    step = VIDEO_CLOCK // fps
    colour = _yuv(rgb)
    out: list[tuple[int, bytes, bool]] = []
    count = round(loop_s * fps)
    noise = random.Random(sum(rgb))
    speckle = bytes(
        max(16, min(235, colour[0] - grain + (b * 2 * grain) // 255)) for b in range(256)
    )
    for i in range(count):
        frame = av.VideoFrame(width, height, "yuv420p")
        for j, plane in enumerate(frame.planes):
            row = bytearray([colour[j]]) * plane.line_size
            if j == 0:  # a light bar moving across, so a still picture is told from a live one
                x = (i * 4) % max(1, plane.width - 8)
                row[x : x + 8] = b"\xeb" * 8
            if j == 0 and grain:  # random bytes mapped onto the colour ± grain (in C)
                plane.update(noise.randbytes(plane.line_size * plane.height).translate(speckle))
                continue
            plane.update(bytes(row) * plane.height)
        frame.pts = i * step
        frame.time_base = enc.time_base
        out.extend((p.pts or 0, bytes(p), bool(p.is_keyframe)) for p in enc.encode(frame))
    out.extend((p.pts or 0, bytes(p), bool(p.is_keyframe)) for p in enc.encode(None))
    return out


def video_frames(
    seconds: float,
    rgb: tuple[int, int, int],
    started_at: float,
    *,
    fps: int = 15,
    width: int = 320,
    height: int = 240,
    loop_s: float = 4.0,
    bit_rate: int = 150_000,
    grain: int = 0,
) -> Iterator[EncodedFrame]:
    """`seconds` of a flat-coloured camera whose first frame arrived at `started_at`."""
    loop = _encode_video_loop(rgb, loop_s, fps, width, height, bit_rate, grain)
    loop_ticks = round(loop_s * VIDEO_CLOCK)
    total = round(seconds * VIDEO_CLOCK)
    base = 0
    while base < total:
        for ts, data, key in loop:
            at = base + ts
            if at >= total:
                return
            yield EncodedFrame(data, _TS0 + at, key or at == 0, started_at + at / VIDEO_CLOCK)
        base += loop_ticks


def _encode_tone(freq: float, packets: int) -> list[bytes]:
    enc: Any = av.CodecContext.create("libopus", "w")
    enc.sample_rate = AUDIO_CLOCK
    enc.layout = "stereo"
    enc.format = "s16"
    enc.time_base = Fraction(1, AUDIO_CLOCK)
    out: list[bytes] = []
    for i in range(packets + 1):
        frame = None
        if i < packets:
            samples = array(
                "h",
                (
                    int(5000 * math.sin(2 * math.pi * freq * (n + i * _OPUS_SAMPLES) / AUDIO_CLOCK))
                    for n in range(_OPUS_SAMPLES)
                    for _ in (0, 1)
                ),
            )
            frame = av.AudioFrame(format="s16", layout="stereo", samples=_OPUS_SAMPLES)
            frame.planes[0].update(samples.tobytes())
            frame.sample_rate = AUDIO_CLOCK
            frame.pts = i * _OPUS_SAMPLES
            frame.time_base = enc.time_base
        out.extend(bytes(p) for p in enc.encode(frame))
    return out[:packets]


def tone_frames(seconds: float, freq: float, started_at: float) -> Iterator[EncodedFrame]:
    """`seconds` of a microphone playing a steady tone, in 20 ms Opus packets. The loop is
    one second of a whole number of periods when `freq` is a whole number of hertz."""
    loop = _encode_tone(freq, 50)
    for i in range(round(seconds * 50)):
        ts = i * _OPUS_SAMPLES
        yield EncodedFrame(loop[i % len(loop)], _TS0 + ts, True, started_at + ts / AUDIO_CLOCK)
