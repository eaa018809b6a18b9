"""RTP on the receive path, read without building objects: the fixed header, the three header
extensions the bridge uses, receive statistics and the sequence numbers to NACK.

Pure logic over bytes (no aiortc, no I/O), tested against golden packets. The bridge reads
thousands of packets a second from each room; aiortc's `RtpPacket.parse` builds a packet
object and a header-extension dataclass for each, which cost more than all the rest of the
forwarding. A malformed packet raises a precise `ValueError` (STYLE 8); the caller drops it.
"""

from __future__ import annotations

import statistics
import struct
from collections import deque

_SEQ_TS_SSRC = struct.Struct("!HII")
_EXT_HEADER = struct.Struct("!HH")
ONE_BYTE_PROFILE = 0xBEDE  # RFC 8285 4.2
TWO_BYTE_PROFILE_MASK = 0xFFF0  # RFC 8285 4.3: 0x100 followed by 4 application bits
TWO_BYTE_PROFILE = 0x1000


class RtpView:
    """What the bridge reads of one RTP packet (RFC 3550 5.1), plus abs-send-time, the
    RFC 6464 audio level and the transport-wide sequence number when the packet carries
    them."""

    __slots__ = (
        "abs_send_time",
        "audio_level",
        "marker",
        "padding_size",
        "payload",
        "payload_type",
        "sequence_number",
        "ssrc",
        "timestamp",
        "transport_seq",
    )

    def __init__(
        self,
        payload_type: int,
        marker: bool,
        sequence_number: int,
        timestamp: int,
        ssrc: int,
        payload: bytes,
        padding_size: int = 0,
        abs_send_time: int | None = None,
        audio_level: int | None = None,
        transport_seq: int | None = None,
    ) -> None:
        self.payload_type = payload_type
        self.marker = marker
        self.sequence_number = sequence_number
        self.timestamp = timestamp
        self.ssrc = ssrc
        self.payload = payload
        self.padding_size = padding_size
        self.abs_send_time = abs_send_time  # 6.18 fixed-point seconds, 24 bits
        self.audio_level = audio_level  # 0 (loudest) .. 127 (silence), -dBov
        self.transport_seq = transport_seq  # transport-wide number, 16 bits (`bridge.twcc`)


def parse_rtp(
    data: bytes, abs_send_time_id: int = 0, audio_level_id: int = 0, transport_cc_id: int = 0
) -> RtpView:
    """Read one decrypted RTP packet. The extension ids are those negotiated for the
    stream (0 when not negotiated: RFC 8285 reserves 0, so it never matches)."""
    size = len(data)
    if size < 12:
        raise ValueError(f"RTP packet of {size} bytes is shorter than its 12-byte header")
    first = data[0]
    if first >> 6 != 2:
        raise ValueError(f"RTP version is {first >> 6}, not 2")
    second = data[1]
    seq, timestamp, ssrc = _SEQ_TS_SSRC.unpack_from(data, 2)
    pos = 12 + 4 * (first & 0x0F)  # CSRC list
    abs_send_time = audio_level = transport_seq = None
    if first & 0x10:
        if size < pos + 4:
            raise ValueError("RTP header extension is truncated")
        profile, words = _EXT_HEADER.unpack_from(data, pos)
        start, end = pos + 4, pos + 4 + 4 * words
        if end > size:
            raise ValueError(f"RTP header extension of {words} words runs past the packet")
        two_byte = profile & TWO_BYTE_PROFILE_MASK == TWO_BYTE_PROFILE
        if two_byte or profile == ONE_BYTE_PROFILE:
            abs_send_time, audio_level, transport_seq = _elements(
                data, start, end, two_byte, abs_send_time_id, audio_level_id, transport_cc_id
            )
        pos = end
    padding = 0
    if first & 0x20:
        padding = data[-1]
        if padding == 0 or pos + padding > size:
            raise ValueError(f"RTP padding of {padding} bytes does not fit the packet")
    elif pos > size:
        raise ValueError("RTP CSRC list runs past the packet")
    return RtpView(
        second & 0x7F,
        second >> 7 == 1,
        seq,
        timestamp,
        ssrc,
        data[pos : size - padding],
        padding,
        abs_send_time,
        audio_level,
        transport_seq,
    )


def _elements(
    data: bytes, pos: int, end: int, two_byte: bool, abs_id: int, level_id: int, twcc_id: int
) -> tuple[int | None, int | None, int | None]:
    """abs-send-time, the audio level and the transport-wide sequence number from an
    RFC 8285 extension block: one-byte
    headers (4.2: id and length - 1 in one byte; id 15 stops the block) or two-byte
    headers (4.3: id, then length). Zero bytes between elements are padding."""
    abs_send_time = audio_level = transport_seq = None
    while pos < end:
        header = data[pos]
        if header == 0:
            pos += 1
            continue
        if two_byte:
            if pos + 2 > end:
                raise ValueError("RTP two-byte header extension element is truncated")
            ext_id, length = header, data[pos + 1]
            pos += 2
        else:
            ext_id, length = header >> 4, (header & 0x0F) + 1
            if ext_id == 15:
                break
            pos += 1
        if pos + length > end:
            raise ValueError(f"RTP header extension element {ext_id} runs past its block")
        if ext_id == abs_id and length == 3:
            abs_send_time = int.from_bytes(data[pos : pos + 3], "big")
        elif ext_id == level_id and length >= 1:
            audio_level = data[pos] & 0x7F
        elif ext_id == twcc_id and length == 2:
            transport_seq = (data[pos] << 8) | data[pos + 1]
        pos += length
    return abs_send_time, audio_level, transport_seq


def seq_newer(a: int, b: int) -> bool:
    """Is 16-bit sequence number `a` after `b`, allowing for wrap-around (RFC 1982)?"""
    return a != b and (a - b) & 0xFFFF < 0x8000


class ReceiveStats:
    """What a receiver report says about one source (RFC 3550 6.4.1, appendices A.3 and
    A.8): extended highest sequence number, cumulative and fractional loss, jitter."""

    __slots__ = (
        "_base",
        "_clock_rate",
        "_cycles",
        "_expected_prior",
        "_jitter_q4",
        "_last",
        "_received_prior",
        "max_seq",
        "packets_received",
    )

    def __init__(self, clock_rate: int) -> None:
        self._clock_rate = clock_rate
        self._base: int | None = None
        self.max_seq: int | None = None
        self._cycles = 0
        self.packets_received = 0
        self._jitter_q4 = 0  # jitter in clock units, times 16 (A.8's integer form)
        self._last: tuple[int, int] | None = None  # arrival in clock units, timestamp
        self._expected_prior = 0
        self._received_prior = 0

    def add(self, seq: int, timestamp: int, arrival: float) -> None:
        """One packet (not a retransmission) with its arrival time in seconds."""
        self.packets_received += 1
        max_seq = self.max_seq
        if max_seq is None:
            self._base = self.max_seq = seq
        elif seq_newer(seq, max_seq):
            if seq < max_seq:
                self._cycles += 1 << 16
            self.max_seq = seq
        else:
            return  # reordered or repeated: counted, but it moves neither jitter nor the top
        now = int(arrival * self._clock_rate)
        last = self._last
        self._last = (now, timestamp)
        if last is not None:
            # D(i-1, i) of 6.4.1, with the timestamp difference taken modulo 2^32.
            elapsed = (timestamp - last[1] + 0x80000000) % 0x100000000 - 0x80000000
            delta = abs(now - last[0] - elapsed)
            self._jitter_q4 += delta - ((self._jitter_q4 + 8) >> 4)

    @property
    def highest_sequence(self) -> int:
        """The extended highest sequence number received (cycles << 16 | max_seq)."""
        return self._cycles + (self.max_seq or 0)

    @property
    def jitter(self) -> int:
        """Interarrival jitter, in clock units."""
        return self._jitter_q4 >> 4

    @property
    def packets_expected(self) -> int:
        if self._base is None or self.max_seq is None:
            return 0
        return self._cycles + self.max_seq - self._base + 1

    @property
    def packets_lost(self) -> int:
        """Cumulative loss, clamped to the 24-bit signed field of a report block."""
        return max(-0x800000, min(0x7FFFFF, self.packets_expected - self.packets_received))

    def take_fraction_lost(self) -> int:
        """Loss since the previous call, in 256ths (the report's 8-bit field)."""
        expected, received = self.packets_expected, self.packets_received
        interval = expected - self._expected_prior
        lost = interval - (received - self._received_prior)
        self._expected_prior, self._received_prior = expected, received
        return 0 if interval <= 0 or lost <= 0 else (lost << 8) // interval


class MissingPackets:
    """Sequence numbers not received yet, for generic NACKs (RFC 4585 6.2.1).

    A packet more than `window` behind the newest one is forgotten: asking for it again
    would come too late to help.
    """

    __slots__ = ("_newest", "_window", "missing")

    def __init__(self, window: int = 128) -> None:
        self._window = window
        self._newest: int | None = None
        self.missing: set[int] = set()

    def add(self, seq: int) -> bool:
        """Record one received packet; True when it reveals packets never seen."""
        newest = self._newest
        if newest is None:
            self._newest = seq
            return False
        if not seq_newer(seq, newest):
            self.missing.discard(seq)  # a late or retransmitted packet
            return False
        gap = (seq - newest) & 0xFFFF
        self._newest = seq
        if gap == 1:
            if self.missing:
                self._forget_old(seq)
            return False
        for step in range(1, min(gap, self._window + 1)):
            self.missing.add((seq - step) & 0xFFFF)
        self._forget_old(seq)
        return True

    def _forget_old(self, newest: int) -> None:
        window = self._window
        old = [s for s in self.missing if (newest - s) & 0xFFFF > window]
        for seq in old:
            self.missing.discard(seq)


class RemoteReports:
    """What a receiver's reports (RFC 3550 6.4.1) say about one stream the bridge sends:
    loss, jitter and the round-trip time, from the report's LSR and DLSR against the
    bridge's own sender reports. Pure: the caller gives the times (UNIX seconds)."""

    __slots__ = (
        "_rtts",
        "_sent",
        "fraction_lost",
        "jitter",
        "packets_lost",
        "reports",
        "sent_at_report",
    )

    KEPT_SENDER_REPORTS = 8  # a report echoes one of the last few; older ones are forgotten
    KEPT_RTTS = 32

    def __init__(self) -> None:
        self._sent: dict[int, float] = {}  # LSR (the middle 32 bits of NTP) -> when sent
        self._rtts: deque[float] = deque(maxlen=self.KEPT_RTTS)
        self.reports = 0
        self.fraction_lost = 0  # in 256ths, of the latest report
        self.packets_lost = 0  # cumulative, of the latest report
        self.jitter = 0  # in clock units, of the latest report
        self.sent_at_report = 0  # packets the bridge had sent when the latest report came

    def sender_report(self, ntp_timestamp: int, at: float) -> None:
        """The bridge sent a sender report with this 64-bit NTP timestamp at `at`."""
        sent = self._sent
        sent[(ntp_timestamp >> 16) & 0xFFFFFFFF] = at
        while len(sent) > self.KEPT_SENDER_REPORTS:
            del sent[next(iter(sent))]

    def add(
        self,
        fraction_lost: int,
        packets_lost: int,
        jitter: int,
        lsr: int,
        dlsr: int,
        packets_sent: int,
        at: float,
    ) -> None:
        """One report block about this stream, arrived at `at`. RTT = arrival - the time
        the echoed sender report left - the receiver's delay since (DLSR, 1/65536 s)."""
        self.reports += 1
        self.fraction_lost = fraction_lost
        self.packets_lost = packets_lost
        self.jitter = jitter
        self.sent_at_report = packets_sent
        sent = self._sent.get(lsr) if lsr else None  # LSR 0: no sender report seen yet
        if sent is not None:
            rtt = at - sent - dlsr / 65536
            if rtt >= 0:
                self._rtts.append(rtt)

    @property
    def rtt(self) -> float | None:
        """The median of the recent round trips, in seconds; None before the first."""
        return statistics.median(self._rtts) if self._rtts else None

    @property
    def rtt_samples(self) -> int:
        return len(self._rtts)
