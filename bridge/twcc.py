"""Transport-wide congestion control feedback, the receiving side (draft-holmer-rmcat-
transport-wide-cc-extensions-01).

A browser that negotiated the transport-wide sequence number header extension and the
`transport-cc` RTCP feedback numbers every packet it sends on the connection, and its own
congestion control (GCC) decides its send rate from when each packet arrived. The bridge's
part is only to say so: `TransportFeedback` records the arrival time of each numbered packet
and builds the RTPFB (PT 205, FMT 15) feedback packets that report them.

Pure logic over integers and bytes (no aiortc, no I/O); `parse_feedback` reads a feedback
packet back, for tests and for what a sender would do with it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

TRANSPORT_CC_URI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
RTPFB = 205
FMT_TRANSPORT_CC = 15
TICK_US = 250  # a receive delta's unit
REFERENCE_US = 64_000  # the reference time's unit
MAX_STATUSES = 256  # per feedback packet: at most ~800 bytes, well inside one datagram
MAX_SPAN = 1 << 14  # sequence numbers kept waiting; past it the oldest are given up

NOT_RECEIVED, SMALL_DELTA, LARGE_DELTA = 0, 1, 2
_HEAD = struct.Struct("!BBHIIHHI")  # V/P/FMT, PT, length, sender, media, base, count, ref+fb


class TransportFeedback:
    """Arrival times of one connection's transport-wide numbered packets, and the
    feedback that reports them (one instance per peer connection: the numbers are shared
    by every stream of the bundle).

    `add` is on the receive path (a dict insert); `build` runs on the peer's RTCP task,
    every `interval` seconds while something is waiting, and reports everything from the
    first number not yet reported up to the highest received. A packet that arrives after
    its number was reported as missing is not reported again (the sender counted it lost).
    """

    __slots__ = ("_arrivals", "_feedback_count", "_highest", "_next", "_wake", "packets", "sent")

    def __init__(self, wake: Callable[[], None] = lambda: None) -> None:
        self._arrivals: dict[int, int] = {}  # unwrapped number -> arrival, microseconds
        self._next: int | None = None  # first number not reported yet
        self._highest = -1  # highest unwrapped number received
        self._feedback_count = 0
        self._wake = wake
        self.packets = 0  # numbered packets recorded
        self.sent = 0  # feedback packets built

    @property
    def pending(self) -> bool:
        """Whether a feedback is owed."""
        return self._next is not None and self._highest >= self._next

    def add(self, sequence: int, arrival_us: int) -> None:
        """One packet with transport-wide number `sequence` (16 bits) arrived at
        `arrival_us` (microseconds, any clock that only goes forward)."""
        highest = self._highest
        if highest < 0:
            number = sequence
        else:
            step = (sequence - highest) & 0xFFFF
            number = highest + step if step < 0x8000 else highest + step - 0x10000
        start = self._next
        if start is None:
            start = self._next = number
        elif number < start:
            return  # already reported as missing
        was_pending = highest >= start
        self.packets += 1
        self._arrivals.setdefault(number, arrival_us)
        if number > highest:
            self._highest = number
            if number - start >= MAX_SPAN:
                self._forget_before(number - MAX_SPAN + 1)
        if not was_pending:
            self._wake()

    def _forget_before(self, number: int) -> None:
        for old in [n for n in self._arrivals if n < number]:
            del self._arrivals[old]
        self._next = number

    def build(self, sender_ssrc: int, media_ssrc: int) -> list[bytes]:
        """Feedback packets for everything waiting, oldest first (empty when nothing is).
        Each starts at the first number not reported and reports up to `MAX_STATUSES`
        numbers; a gap in time too long for one packet's deltas starts the next packet."""
        out: list[bytes] = []
        start = self._next
        while start is not None and start <= self._highest:
            first = min((n for n in self._arrivals if n >= start), default=None)
            if first is None:
                break
            # Numbers before the first received are lost: reported as such when the run is
            # short, else the packet begins at the first received.
            if first - start > MAX_STATUSES:
                start = first
            packet, start = self._one(start, first, sender_ssrc, media_ssrc)
            out.append(packet)
        self._next = start
        self.sent += len(out)
        return out

    def _one(self, base: int, first: int, sender_ssrc: int, media_ssrc: int) -> tuple[bytes, int]:
        """One feedback packet from `base`; `first` is the first received number."""
        arrivals = self._arrivals
        reference = arrivals[first] // REFERENCE_US
        previous = reference * (REFERENCE_US // TICK_US)  # in ticks
        statuses: list[int] = []
        deltas = bytearray()
        number = base
        end = min(self._highest, base + MAX_STATUSES - 1)
        while number <= end:
            arrival = arrivals.pop(number, None)
            if arrival is None:
                statuses.append(NOT_RECEIVED)
            else:
                ticks = arrival // TICK_US
                delta = ticks - previous
                if 0 <= delta <= 0xFF:
                    statuses.append(SMALL_DELTA)
                    deltas.append(delta)
                elif -0x8000 <= delta <= 0x7FFF and number != base:
                    statuses.append(LARGE_DELTA)
                    deltas += struct.pack("!h", delta)
                elif number == base:  # cannot happen: the first is within 64 ms of reference
                    raise AssertionError("the first delta is always small")
                else:
                    arrivals[number] = arrival  # starts the next feedback packet
                    break
                previous = ticks
            number += 1
        body = _chunks(statuses) + bytes(deltas)
        padding = -len(body) % 4
        if padding:
            body += bytes(padding - 1) + bytes((padding,))
        words = (_HEAD.size + len(body)) // 4 - 1
        first_byte = 0x80 | (0x20 if padding else 0) | FMT_TRANSPORT_CC
        count = self._feedback_count
        self._feedback_count = (count + 1) & 0xFF
        head = _HEAD.pack(
            first_byte,
            RTPFB,
            words,
            sender_ssrc,
            media_ssrc,
            base & 0xFFFF,
            len(statuses),
            ((reference & 0xFFFFFF) << 8) | count,
        )
        return head + body, number


def _chunks(statuses: list[int]) -> bytes:
    """Packet status chunks: a run-length chunk for a run of 7 or more equal statuses, a
    two-bit status vector chunk of the next 7 otherwise (a short last one padded with
    "not received", which the count makes the reader ignore)."""
    out = bytearray()
    i, total = 0, len(statuses)
    while i < total:
        status = statuses[i]
        run = 1
        while i + run < total and statuses[i + run] == status and run < 0x1FFF:
            run += 1
        if run >= 7:
            out += struct.pack("!H", (status << 13) | run)
            i += run
            continue
        chunk = 0xC000  # T=1 (vector), S=1 (two-bit symbols)
        for k, symbol in enumerate(statuses[i : i + 7]):
            chunk |= symbol << (2 * (6 - k))
        out += struct.pack("!H", chunk)
        i += 7
    return bytes(out)


@dataclass(frozen=True, slots=True)
class Feedback:
    """A transport-cc feedback packet, read back."""

    sender_ssrc: int
    media_ssrc: int
    base: int
    feedback_count: int
    reference_us: int
    arrivals: tuple[tuple[int, int | None], ...]  # (16-bit number, arrival µs or None)


def parse_feedback(data: bytes) -> Feedback:
    """Read one transport-cc feedback packet; raises ValueError naming what is wrong."""
    if len(data) < _HEAD.size:
        raise ValueError(f"feedback of {len(data)} bytes is shorter than its header")
    first, pt, words, sender, media, base, count, ref_fb = _HEAD.unpack_from(data)
    if first >> 6 != 2 or first & 0x1F != FMT_TRANSPORT_CC or pt != RTPFB:
        raise ValueError("not a transport-cc feedback packet")
    size = (words + 1) * 4
    if size > len(data):
        raise ValueError(f"feedback says {size} bytes but has {len(data)}")
    end = size - (data[size - 1] if first & 0x20 else 0)
    pos = _HEAD.size
    symbols: list[int] = []
    while len(symbols) < count:
        if pos + 2 > end:
            raise ValueError("feedback chunks run past the packet")
        (chunk,) = struct.unpack_from("!H", data, pos)
        pos += 2
        left = count - len(symbols)
        if not chunk & 0x8000:
            symbols += [(chunk >> 13) & 0x3] * min(chunk & 0x1FFF, left)
        elif chunk & 0x4000:
            symbols += [(chunk >> (2 * (6 - k))) & 0x3 for k in range(7)][:left]
        else:
            symbols += [(chunk >> (13 - k)) & 0x1 for k in range(14)][:left]
    reference = ref_fb >> 8
    if reference & 0x800000:
        reference -= 1 << 24
    ticks = reference * (REFERENCE_US // TICK_US)
    arrivals: list[tuple[int, int | None]] = []
    for k, symbol in enumerate(symbols):
        number = (base + k) & 0xFFFF
        if symbol == NOT_RECEIVED:
            arrivals.append((number, None))
            continue
        width = 1 if symbol == SMALL_DELTA else 2
        if pos + width > end:
            raise ValueError("feedback deltas run past the packet")
        delta = data[pos] if width == 1 else struct.unpack_from("!h", data, pos)[0]
        pos += width
        ticks += delta
        arrivals.append((number, ticks * TICK_US))
    return Feedback(sender, media, base, ref_fb & 0xFF, reference * REFERENCE_US, tuple(arrivals))
