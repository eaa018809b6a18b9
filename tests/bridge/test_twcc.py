"""Transport-wide congestion control feedback (`bridge.twcc`): what the bridge reports of
the packets a browser numbered, read back with the independent parser and checked against
hand-encoded packets of the draft's format."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.twcc import (
    MAX_STATUSES,
    REFERENCE_US,
    TICK_US,
    TransportFeedback,
    parse_feedback,
)


def _received(feedback: bytes) -> dict[int, int | None]:
    return dict(parse_feedback(feedback).arrivals)


def test_nothing_received_nothing_owed() -> None:
    feedback = TransportFeedback()
    assert not feedback.pending
    assert feedback.build(1, 2) == []


def test_one_packet_is_reported_with_its_arrival() -> None:
    feedback = TransportFeedback()
    feedback.add(7, 1_000_000)
    assert feedback.pending
    (packet,) = feedback.build(0x11111111, 0x22222222)
    assert len(packet) % 4 == 0
    read = parse_feedback(packet)
    assert (read.sender_ssrc, read.media_ssrc, read.base) == (0x11111111, 0x22222222, 7)
    assert read.arrivals == ((7, 1_000_000),)
    assert read.reference_us == (1_000_000 // REFERENCE_US) * REFERENCE_US
    assert not feedback.pending and feedback.build(1, 2) == []


def test_a_hand_encoded_packet() -> None:
    """Two received, one lost, one received: the header, one two-bit vector chunk and
    three one-byte deltas (in 250 µs ticks) with the RTCP padding that ends on a word."""
    feedback = TransportFeedback()
    base_us = 5 * REFERENCE_US  # reference time 5, first delta 0
    feedback.add(100, base_us)
    feedback.add(101, base_us + 4 * TICK_US)
    feedback.add(103, base_us + 10 * TICK_US)
    (packet,) = feedback.build(1, 2)
    head = struct.pack("!BBHIIHHI", 0x80 | 0x20 | 15, 205, 6, 1, 2, 100, 4, (5 << 8) | 0)
    chunk = struct.pack("!H", 0xC000 | (1 << 12) | (1 << 10) | (0 << 8) | (1 << 6))
    deltas = bytes((0, 4, 6))
    assert packet == head + chunk + deltas + bytes((0, 0, 3))


def test_losses_and_wraparound() -> None:
    feedback = TransportFeedback()
    numbers = [65530, 65531, 65533, 65535, 0, 1, 4]
    for k, number in enumerate(numbers):
        feedback.add(number, 2_000_000 + k * 5_000)
    (packet,) = feedback.build(1, 2)
    received = _received(packet)
    assert list(received) == [*range(65530, 65536), *range(0, 5)]
    assert [n for n, at in received.items() if at is not None] == numbers
    assert received[4] == (2_000_000 + 6 * 5_000) // TICK_US * TICK_US


def test_reordering_gives_a_negative_delta() -> None:
    feedback = TransportFeedback()
    feedback.add(10, 3_000_000)
    feedback.add(12, 3_002_000)
    feedback.add(11, 3_004_000)  # later than 12
    received = _received(feedback.build(1, 2)[0])
    assert received == {10: 3_000_000, 11: 3_004_000, 12: 3_002_000}


def test_late_packet_after_its_report_is_not_reported_again() -> None:
    feedback = TransportFeedback()
    feedback.add(1, 1_000_000)
    feedback.add(3, 1_001_000)
    assert _received(feedback.build(1, 2)[0])[2] is None
    feedback.add(2, 1_050_000)
    assert not feedback.pending
    feedback.add(4, 1_060_000)
    assert list(_received(feedback.build(1, 2)[0])) == [4]


def test_a_long_gap_in_time_starts_a_new_packet() -> None:
    """A delta beyond 16 bits of ticks (about 8 s) cannot be written: the next packet
    starts with its own reference time."""
    feedback = TransportFeedback()
    feedback.add(1, 1_000_000)
    feedback.add(2, 1_000_000 + 20_000_000)
    packets = feedback.build(1, 2)
    assert [list(_received(p)) for p in packets] == [[1], [2]]
    assert _received(packets[1])[2] == 21_000_000


def test_many_packets_are_split_and_counted() -> None:
    feedback = TransportFeedback()
    for number in range(MAX_STATUSES * 2 + 10):
        feedback.add(number, 1_000_000 + number * 1_000)
    packets = feedback.build(1, 2)
    assert len(packets) == 3
    assert [parse_feedback(p).feedback_count for p in packets] == [0, 1, 2]
    assert all(len(p) < 1200 for p in packets)
    assert sum(len(parse_feedback(p).arrivals) for p in packets) == MAX_STATUSES * 2 + 10


def test_wake_once_per_pending_batch() -> None:
    woken: list[int] = []
    feedback = TransportFeedback(lambda: woken.append(1))
    feedback.add(1, 1_000)
    feedback.add(2, 2_000)
    assert len(woken) == 1
    feedback.build(1, 2)
    feedback.add(3, 3_000)
    assert len(woken) == 2


def test_parser_refuses_what_is_not_feedback() -> None:
    with pytest.raises(ValueError, match="shorter"):
        parse_feedback(b"\x8f\xcd\x00")
    with pytest.raises(ValueError, match="not a transport-cc"):
        parse_feedback(struct.pack("!BBHIIHHI", 0x81, 205, 4, 1, 2, 0, 0, 0))


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 40_000)), min_size=1, max_size=600))
def test_every_received_packet_is_reported_once_at_its_tick(
    steps: list[tuple[int, int]],
) -> None:
    """Whatever the pattern of losses and gaps, the parsed feedback gives every received
    number its arrival (to the tick) exactly once, and every number in between as lost."""
    feedback = TransportFeedback()
    number, at = 40_000, 7_000_000
    sent: dict[int, int] = {}
    for skip, gap in steps:
        number += skip + 1
        at += gap
        sent[number & 0xFFFF] = at
        feedback.add(number & 0xFFFF, at)
    reported: dict[int, int | None] = {}
    for packet in feedback.build(1, 2):
        for n, arrival in parse_feedback(packet).arrivals:
            assert n not in reported or (reported[n] is None and arrival is None)
            reported[n] = arrival
    for n, arrival in sent.items():
        assert reported[n] == arrival // TICK_US * TICK_US
    assert {n for n, a in reported.items() if a is not None} == set(sent)
