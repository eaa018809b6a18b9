"""`bridge.rtp` reads what aiortc writes, refuses what is malformed, and counts as RFC 3550
says."""

from __future__ import annotations

import random
import struct

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpReceiveParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from bridge.rtc import ABS_SEND_TIME_URI, AUDIO_LEVEL_URI
from bridge.rtp import MissingPackets, ReceiveStats, parse_rtp, seq_newer

ABS_ID, LEVEL_ID, MID_ID = 3, 1, 4


def extension_map() -> HeaderExtensionsMap:
    extensions = HeaderExtensionsMap()
    extensions.configure(
        RTCRtpReceiveParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=LEVEL_ID, uri=AUDIO_LEVEL_URI),
                RTCRtpHeaderExtensionParameters(id=ABS_ID, uri=ABS_SEND_TIME_URI),
                RTCRtpHeaderExtensionParameters(
                    id=MID_ID, uri="urn:ietf:params:rtp-hdrext:sdes:mid"
                ),
            ]
        )
    )
    return extensions


def test_reads_what_aiortc_writes() -> None:
    rng = random.Random(7)
    extensions = extension_map()
    for _ in range(2000):
        packet = RtpPacket(
            payload_type=rng.randrange(128),
            marker=rng.randrange(2),
            sequence_number=rng.randrange(65536),
            timestamp=rng.randrange(1 << 32),
            ssrc=rng.randrange(1 << 32),
            payload=rng.randbytes(rng.randrange(0, 1300)),
        )
        packet.padding_size = rng.choice((0, 0, 0, 1, 7, 255))
        packet.csrc = [rng.randrange(1 << 32) for _ in range(rng.choice((0, 0, 0, 2, 15)))]
        if rng.random() < 0.7:
            packet.extensions.abs_send_time = rng.randrange(1 << 24)
        if rng.random() < 0.5:
            packet.extensions.audio_level = (bool(rng.randrange(2)), rng.randrange(128))
        if rng.random() < 0.3:
            packet.extensions.mid = str(rng.randrange(100))
        data = packet.serialize(extensions)
        view = parse_rtp(data, ABS_ID, LEVEL_ID)
        theirs = RtpPacket.parse(data, extensions)
        assert view.payload_type == theirs.payload_type
        assert view.marker == bool(theirs.marker)
        assert view.sequence_number == theirs.sequence_number
        assert view.timestamp == theirs.timestamp
        assert view.ssrc == theirs.ssrc
        assert view.payload == theirs.payload
        assert view.padding_size == theirs.padding_size
        assert view.abs_send_time == theirs.extensions.abs_send_time
        level = theirs.extensions.audio_level
        assert view.audio_level == (None if level is None else level[1])


def header(first: int = 0x80, second: int = 0x60) -> bytes:
    return bytes((first, second)) + struct.pack("!HII", 513, 0x01020304, 0xCAFEBABE)


def test_reads_two_byte_extensions_and_skips_element_padding() -> None:
    # RFC 8285 4.3: 0x100 profile, id byte, length byte; zero bytes pad between elements.
    elements = bytes((LEVEL_ID, 1, 0x80 | 42, 0, 0, ABS_ID, 3, 1, 2, 3, 9, 0))
    elements += b"\0" * (-len(elements) % 4)
    ext = struct.pack("!HH", 0x1000, len(elements) // 4) + elements
    view = parse_rtp(header(first=0x90) + ext + b"vp8", ABS_ID, LEVEL_ID)
    assert (view.audio_level, view.abs_send_time, view.payload) == (42, 0x010203, b"vp8")


def test_one_byte_extensions_stop_at_id_15_and_ignore_ids_not_asked_for() -> None:
    elements = bytes((0x00, (7 << 4) | 1, 0xAA, 0xBB, (LEVEL_ID << 4), 0x85, 0xF0, 0x11))
    ext = struct.pack("!HH", 0xBEDE, 2) + elements
    view = parse_rtp(header(first=0x90) + ext + b"x", ABS_ID, LEVEL_ID)
    assert (view.audio_level, view.abs_send_time, view.payload) == (5, None, b"x")
    unasked = parse_rtp(header(first=0x90) + ext + b"x")
    assert (unasked.audio_level, unasked.abs_send_time) == (None, None)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x80\x60\x00\x01", "shorter than its 12-byte header"),
        (header(first=0x40), "version is 1"),
        (header(first=0x90) + b"\xbe\xde", "extension is truncated"),
        (header(first=0x90) + b"\xbe\xde\x00\x05" + b"\0" * 8, "runs past the packet"),
        (header(first=0x90) + b"\xbe\xde\x00\x01" + bytes((ABS_ID << 4 | 2, 1, 2, 3)), ""),
        (header(first=0x90) + b"\xbe\xde\x00\x01" + bytes((0x13, 1, 2, 3)), "runs past its"),
        (header(first=0xA0) + b"abc\x00", "padding of 0 bytes"),
        (header(first=0xA0) + b"abc\x09", "padding of 9 bytes"),
        (header(first=0x83) + b"\0" * 8, "CSRC list runs past"),
    ],
)
def test_malformed_packets_are_refused_with_the_reason(data: bytes, problem: str) -> None:
    if not problem:  # a well-formed extension block, for contrast with the next case
        assert parse_rtp(data, ABS_ID, LEVEL_ID).abs_send_time == 0x010203
        return
    with pytest.raises(ValueError, match=problem):
        parse_rtp(data, ABS_ID, LEVEL_ID)


def test_sequence_order_wraps_around() -> None:
    assert seq_newer(1, 0) and seq_newer(0, 65535) and seq_newer(100, 65500)
    assert not seq_newer(65535, 0) and not seq_newer(5, 5) and not seq_newer(0, 0x8000)


def test_receive_stats_count_loss_across_a_wrap() -> None:
    stats = ReceiveStats(90000)
    received = [65530, 65531, 65533, 65535, 0, 1, 4, 5]  # 65532, 65534, 2 and 3 lost
    for i, seq in enumerate(received):
        stats.add(seq, 3000 * i, 10.0 + i / 30)
    stats.add(65531, 3000, 11.0)  # a duplicate: counted, but it is not news
    assert stats.highest_sequence == (1 << 16) + 5
    assert stats.packets_expected == 12
    assert stats.packets_lost == 12 - 9
    assert stats.take_fraction_lost() == (3 << 8) // 12
    for seq in (6, 7, 8, 9):
        stats.add(seq, 40_000, 12.0)
    assert stats.take_fraction_lost() == 0, "no loss since the last report"


def test_jitter_is_zero_for_steady_packets_and_grows_with_variation() -> None:
    steady, shaky = ReceiveStats(90000), ReceiveStats(90000)
    base = (1 << 32) - 45_000  # the timestamp wraps half-way through
    for i in range(60):
        ts = (base + 3000 * i) & 0xFFFFFFFF
        steady.add(i, ts, 100.0 + i / 30)
        shaky.add(i, ts, 100.0 + i / 30 + (0.010 if i % 2 else 0.0))
    assert steady.jitter <= 1, "no spike where the timestamp wraps"
    # Every transit differs from the last by 10 ms (900 units): J converges to 900.
    assert 800 < shaky.jitter <= 900


def test_missing_packets_are_found_filled_and_forgotten() -> None:
    missing = MissingPackets(window=8)
    assert not missing.add(65534)
    assert missing.add(1), "65535 and 0 never came"
    assert missing.missing == {65535, 0}
    assert not missing.add(0), "a late packet is no news"
    assert missing.missing == {65535}
    assert not missing.add(2)
    assert missing.add(30), "a jump past the window"
    assert missing.missing == set(range(22, 30)), "only the last 8 are worth asking for"
    for seq in range(31, 40):
        missing.add(seq)
    assert missing.missing == set(), "too old to repair now"
