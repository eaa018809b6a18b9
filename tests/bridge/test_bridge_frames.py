"""Depacketizing and frame reassembly against golden bytes (pure, no network)."""

from __future__ import annotations

import pytest

from bridge.contracts import EncodedFrame
from bridge.frames import AudioAssembler, Unwrapper, VideoAssembler, vp8_depayload, vp8_is_keyframe

KEY = b"\x50\x01\x00\x9d\x01\x2a" + b"k" * 20  # P bit 0: key frame (RFC 6386 9.1)
DELTA = b"\x31\x02\x00" + b"d" * 20


@pytest.mark.parametrize(
    ("payload", "data", "start"),
    [
        (b"\x10\xaa", b"\xaa", True),  # S=1, PID=0
        (b"\x00\xbb", b"\xbb", False),  # continuation
        (b"\x11\xbb", b"\xbb", False),  # S=1 but partition 1: not a frame start
        (b"\x90\x80\x81\x23\xcc", b"\xcc", True),  # X, I with a 15-bit PictureID
        (b"\x90\xf0\x05\x07\x20\xdd", b"\xdd", True),  # X, I (7-bit), L, T
    ],
)
def test_vp8_descriptor(payload: bytes, data: bytes, start: bool) -> None:
    assert vp8_depayload(payload) == (data, start)


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"", "VP8 payload is empty"),
        (b"\x80", "VP8 descriptor truncated before its extension octet"),
        (b"\x90\x80", "VP8 descriptor truncated in PictureID"),
        (b"\x10", "VP8 payload has a 1-byte descriptor and no data"),
        (b"\x90\x80\x81\x23", "VP8 payload has a 4-byte descriptor and no data"),
    ],
)
def test_vp8_descriptor_errors(payload: bytes, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        vp8_depayload(payload)


def test_keyframe_flag() -> None:
    assert vp8_is_keyframe(KEY) and not vp8_is_keyframe(DELTA) and not vp8_is_keyframe(b"")


def test_unwrapper_crosses_the_wrap_and_tolerates_reordering() -> None:
    u = Unwrapper(16)
    assert [u.unwrap(v) for v in (65534, 65535, 0, 65535, 1)] == [65534, 65535, 65536, 65535, 65537]
    t = Unwrapper(32)
    assert [t.unwrap(v) for v in (2**32 - 10, 5)] == [2**32 - 10, 2**32 + 5]


Packet = tuple[int, int, bool, bytes]


def packetize(frame: bytes, seq: int, ts: int, parts: int = 3) -> list[Packet]:
    size = -(-len(frame) // parts)
    chunks = [frame[i : i + size] for i in range(0, len(frame), size)]
    return [
        (seq + i, ts, i == len(chunks) - 1, (b"\x10" if i == 0 else b"\x00") + chunk)
        for i, chunk in enumerate(chunks)
    ]


def push(a: VideoAssembler, packets: list[Packet], at: float = 0.0) -> list[EncodedFrame]:
    out: list[EncodedFrame] = []
    for seq, ts, marker, payload in packets:
        out += a.push(seq % 65536, ts, marker, payload, at)
    return out


def stream(*frames: bytes, seq: int = 100) -> list[list[Packet]]:
    out = []
    for i, frame in enumerate(frames):
        out.append(packetize(frame, seq, 1000 + 3000 * i))
        seq += 3
    return out


def test_frames_come_out_whole_and_in_order_even_when_packets_are_reordered() -> None:
    a = VideoAssembler(reorder_wait=0.1)
    key, delta = stream(KEY, DELTA)
    frames = push(a, [key[2], key[0], key[1]]) + push(a, delta)
    assert [(f.data, f.timestamp, f.keyframe) for f in frames] == [
        (KEY, 1000, True),
        (DELTA, 4000, False),
    ]


def test_sequence_numbers_wrap() -> None:
    a = VideoAssembler(reorder_wait=0.1)
    key, delta = stream(KEY, DELTA, seq=65534)
    assert [f.data for f in push(a, key + delta)] == [KEY, DELTA]


def test_a_repaired_loss_keeps_the_order() -> None:
    a = VideoAssembler(reorder_wait=0.1)
    key, d1, d2 = stream(KEY, DELTA, DELTA + b"2")
    assert [f.data for f in push(a, key)] == [KEY]
    assert push(a, d1[:1] + d1[2:] + d2, at=0.01) == []  # d1 waits for its middle packet
    assert [f.data for f in push(a, d1[1:2], at=0.05)] == [DELTA, DELTA + b"2"]  # NACK repaired it
    assert not a.need_keyframe


def test_an_unrepaired_loss_drops_to_the_next_key_frame() -> None:
    a = VideoAssembler(reorder_wait=0.1)
    a.need_keyframe = False
    key, d1, d2, d3, key2 = stream(KEY, DELTA, DELTA + b"2", DELTA + b"3", KEY + b"2")
    push(a, key)
    assert push(a, d1[1:] + d2, at=1.0) == []
    assert push(a, d3, at=1.2) == [], "a delta frame after the gap cannot be decoded"
    assert a.need_keyframe and a.frames_discarded == 2
    assert [f.data for f in push(a, key2, at=1.3)] == [KEY + b"2"]


def test_a_key_frame_skips_the_gap_at_once() -> None:
    a = VideoAssembler(reorder_wait=10.0)
    key, d1, key2 = stream(KEY, DELTA, KEY + b"2")
    push(a, key)
    assert [f.data for f in push(a, d1[:1] + key2)] == [KEY + b"2"]
    assert [f.data for f in push(a, d1[1:])] == [], "late packets of a skipped frame are dropped"


def test_a_stream_that_starts_mid_frame_waits_for_a_key_frame() -> None:
    a = VideoAssembler(reorder_wait=0.1)
    key, d1, key2 = stream(KEY, DELTA, KEY + b"2")
    assert push(a, key[1:] + d1) == []
    assert a.need_keyframe
    assert [f.keyframe for f in push(a, key2)] == [True]


def test_duplicates_and_garbage() -> None:
    a = VideoAssembler(reorder_wait=0.1)
    (key,) = stream(KEY)
    assert len(push(a, key + key)) == 1
    with pytest.raises(ValueError):
        a.push(1, 1, True, b"", 0.0)


def test_audio_passes_packets_in_order_and_drops_late_ones() -> None:
    a = AudioAssembler()
    first = a.push(10, 960, b"one", 1.0)
    assert first == EncodedFrame(b"one", 960, True, 1.0, 1.0)
    assert a.push(12, 2880, b"three", 1.04) is not None
    assert a.push(11, 1920, b"two", 1.05) is None
