"""From RTP packets to complete encoded frames, without decoding anything.

Pure logic: no aiortc, no I/O, tested against golden bytes. A malformed payload raises a
precise `ValueError` (STYLE 8); the caller drops the packet.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.contracts import EncodedFrame


class Unwrapper:
    """Extends a wrapping RTP counter (16-bit sequence number, 32-bit timestamp) so that it
    only grows, tolerating reordering of up to half the range (RFC 3550 appendix A.1)."""

    __slots__ = ("_half", "_last", "_mask")

    def __init__(self, bits: int) -> None:
        self._mask = (1 << bits) - 1
        self._half = 1 << (bits - 1)
        self._last: int | None = None

    def unwrap(self, value: int) -> int:
        if self._last is None:
            self._last = value
            return value
        delta = (value - self._last) & self._mask
        if delta >= self._half:
            delta -= self._mask + 1
        extended = self._last + delta
        if delta > 0:
            self._last = extended
        return extended


def vp8_depayload(payload: bytes) -> tuple[bytes, bool]:
    """Strip the VP8 payload descriptor (RFC 7741 section 4.2).

    Returns the VP8 bytes and whether this packet starts a frame (S=1 and PID=0).
    """
    if not payload:
        raise ValueError("VP8 payload is empty")
    first = payload[0]
    start = bool(first & 0x10) and (first & 0x0F) == 0
    pos = 1
    if first & 0x80:  # X: extension octet follows
        if len(payload) < 2:
            raise ValueError("VP8 descriptor truncated before its extension octet")
        ext = payload[1]
        pos = 2
        if ext & 0x80:  # I: PictureID, 7 or 15 bits
            if len(payload) <= pos:
                raise ValueError("VP8 descriptor truncated in PictureID")
            pos += 2 if payload[pos] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            pos += 1
        if ext & 0x30:  # T or K: one shared octet
            pos += 1
    if len(payload) <= pos:
        raise ValueError(f"VP8 payload has a {pos}-byte descriptor and no data")
    return payload[pos:], start


def vp8_is_keyframe(frame: bytes) -> bool:
    """A VP8 frame is a key frame when the P bit of its frame tag is 0 (RFC 6386 9.1)."""
    return bool(frame) and not frame[0] & 0x01


VP8_START_CODE = b"\x9d\x01\x2a"  # RFC 6386 9.1: follows a key frame's 3-byte frame tag


def vp8_dimensions(frame: bytes) -> tuple[int, int] | None:
    """Width and height of a VP8 key frame, from its uncompressed header (RFC 6386 9.1:
    the start code, then 14-bit width and height, little-endian, each with 2 scaling bits).
    None for a delta frame, which carries no size (VP8 changes size only at key frames)."""
    if len(frame) < 10 or frame[0] & 0x01 or frame[3:6] != VP8_START_CODE:
        return None
    width = int.from_bytes(frame[6:8], "little") & 0x3FFF
    height = int.from_bytes(frame[8:10], "little") & 0x3FFF
    return width, height


@dataclass(slots=True)
class _Packet:
    timestamp: int
    marker: bool
    start: bool
    data: bytes
    arrival: float


@dataclass(slots=True)
class _Held:
    """A complete frame that waits behind a missing packet."""

    first: int
    last: int
    keyframe: bool
    arrival: float


class VideoAssembler:
    """Reassembles VP8 frames from packets that may arrive late, twice or never.

    Frames come out in order and only from a decodable point: after a gap that NACK did
    not fill within `reorder_wait` seconds, delta frames are discarded until the next key
    frame, and `need_keyframe` tells the owner to ask the publisher for one.
    """

    MAX_PACKETS = 2048  # more than any frame; past it the buffer is garbage

    def __init__(self, reorder_wait: float) -> None:
        self._reorder_wait = reorder_wait
        self._seq = Unwrapper(16)
        self._ts = Unwrapper(32)
        self._packets: dict[int, _Packet] = {}
        self._held: list[_Held] = []
        self._expected: int | None = None  # first sequence number of the next frame
        self._newest = -1
        self._broken = True  # nothing decodable until a key frame
        self.need_keyframe = True
        self.frames_discarded = 0

    def push(
        self, seq: int, timestamp: int, marker: bool, payload: bytes, arrival: float
    ) -> list[EncodedFrame]:
        """Add one packet; return the frames it completes, oldest first."""
        data, start = vp8_depayload(payload)
        ext = self._seq.unwrap(seq)
        if (self._expected is not None and ext < self._expected) or ext in self._packets:
            return []  # late or duplicate: that frame is already out or given up
        self._packets[ext] = _Packet(self._ts.unwrap(timestamp), marker, start, data, arrival)
        newest = ext > self._newest
        self._newest = max(self._newest, ext)
        if marker or not newest:
            self._find_complete(ext)
        if len(self._packets) > self.MAX_PACKETS:
            self._reset()
            return []
        return self._drain(arrival)

    def _find_complete(self, seq: int) -> None:
        """Record the frame containing `seq` if all its packets are here."""
        ts = self._packets[seq].timestamp
        first = seq
        while not self._packets[first].start:
            prev = self._packets.get(first - 1)
            if prev is None or prev.timestamp != ts:
                return
            first -= 1
        last = seq
        while not self._packets[last].marker:
            nxt = self._packets.get(last + 1)
            if nxt is None or nxt.timestamp != ts:
                return
            last += 1
        head = self._packets[first]
        held = _Held(first, last, vp8_is_keyframe(head.data), head.arrival)
        self._held.append(held)
        self._held.sort(key=lambda h: h.first)

    def _drain(self, now: float) -> list[EncodedFrame]:
        out: list[EncodedFrame] = []
        while self._held:
            head = self._held[0]
            if head.first != self._expected and not self._give_up(head, now):
                break
            self._held.pop(0)
            frame = self._take(head)
            if frame is not None:
                out.append(frame)
        return out

    def _give_up(self, head: _Held, now: float) -> bool:
        """Skip the gap before `head`? Always for a key frame or at the start of a stream;
        otherwise once `head` has waited `reorder_wait` for the missing packets."""
        if self._expected is not None and head.first < self._expected:
            return True  # stale record of a frame already dropped
        if not (head.keyframe or self._expected is None):
            if now - head.arrival < self._reorder_wait:
                return False
            self._broken = True
            self.need_keyframe = True
        for seq in [s for s in self._packets if s < head.first]:
            del self._packets[seq]
        return True

    def _take(self, held: _Held) -> EncodedFrame | None:
        if self._expected is not None and held.first < self._expected:
            return None
        parts = [self._packets.pop(s) for s in range(held.first, held.last + 1)]
        self._expected = held.last + 1
        if self._broken and not held.keyframe:
            self.frames_discarded += 1
            return None
        self._broken = False
        if held.keyframe:
            self.need_keyframe = False  # whatever asked for one, this is it
        data = b"".join(p.data for p in parts)
        last = max(p.arrival for p in parts)
        return EncodedFrame(data, parts[0].timestamp, held.keyframe, parts[0].arrival, last)

    def _reset(self) -> None:
        self._packets.clear()
        self._held.clear()
        self._expected = None
        self._broken = True
        self.need_keyframe = True


class AudioAssembler:
    """Each Opus packet is a frame (RFC 7587): pass it on in order, drop late ones."""

    def __init__(self) -> None:
        self._seq = Unwrapper(16)
        self._ts = Unwrapper(32)
        self._newest: int | None = None

    def push(self, seq: int, timestamp: int, payload: bytes, arrival: float) -> EncodedFrame | None:
        if not payload:
            raise ValueError("Opus payload is empty")
        ext = self._seq.unwrap(seq)
        ts = self._ts.unwrap(timestamp)
        if self._newest is not None and ext <= self._newest:
            return None
        self._newest = ext
        return EncodedFrame(payload, ts, True, arrival, arrival)
