"""Forwarding encoded frames: a published track fans its frames out to subscribers, and a
receive slot is a subscriber that feeds one sender (`rtc.SlotSender`) with encoded frames.

Nothing here decodes or encodes media. A slot, a recorder and a test probe are all
`FrameSubscriber`s; the published track treats them alike (STYLE 2).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from fractions import Fraction
from typing import Any, Literal

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from bridge.config import BridgeConfig
from bridge.contracts import EncodedFrame, FrameSubscriber, TrackInfo, TrackKind
from bridge.frames import AudioAssembler, VideoAssembler, vp8_dimensions

logger = logging.getLogger(__name__)

SlotRole = Literal["main", "thumbnail", "screen", "audio"]
SILENCE = 127  # RFC 6464: -127 dBov


class RateMeter:
    """Bytes and frames per second over the last complete one-second window, and the
    totals since the first frame (the means over a readiness check)."""

    __slots__ = (
        "_bytes",
        "_frames",
        "_start",
        "bitrate",
        "first",
        "frame_rate",
        "last",
        "total_bytes",
        "total_frames",
    )

    def __init__(self) -> None:
        self._start = 0.0
        self._bytes = 0
        self._frames = 0
        self.bitrate = 0.0  # bits per second
        self.frame_rate = 0.0
        self.first: float | None = None  # when the first and the latest frame came
        self.last = 0.0
        self.total_bytes = 0
        self.total_frames = 0

    @property
    def seconds(self) -> float:
        """From the first frame to the latest."""
        return 0.0 if self.first is None else max(0.0, self.last - self.first)

    def _span(self, until: float | None) -> float:
        if self.first is None:
            return 0.0
        return max(0.0, (self.last if until is None else max(until, self.last)) - self.first)

    def mean_bitrate(self, until: float | None = None) -> float:
        """Bits per second from the first frame to the latest, or to `until` (a stream that
        stalled then reads lower for it)."""
        span = self._span(until)
        return self.total_bytes * 8 / span if span > 0 else 0.0

    def mean_frame_rate(self, until: float | None = None) -> float:
        span = self._span(until)
        return (self.total_frames - 1) / span if span > 0 else 0.0  # n frames, n - 1 gaps

    def add(self, size: int, now: float, frames: int = 1) -> None:
        if self.first is None:
            self.first = now
        self.last = now
        self.total_bytes += size
        self.total_frames += frames
        if now - self._start >= 1.0:
            elapsed = now - self._start
            fresh = elapsed < 2.0  # an idle gap means the rate was zero meanwhile
            self.bitrate = self._bytes * 8 / elapsed if fresh else 0.0
            self.frame_rate = self._frames / elapsed if fresh else 0.0
            self._start, self._bytes, self._frames = now, 0, 0
        self._bytes += size
        self._frames += frames


class PublishedTrack:
    """One track a participant publishes: RTP in, complete frames out to subscribers.

    Keyframe requests from any subscriber go back to the publisher through `send_pli`,
    at most one per `keyframe_request_interval`; a request inside the interval is kept
    and sent with the next packet after it (no timer needed).

    A track nobody subscribes to (most endpoints' cameras, most of the time) is only
    counted: its packets are not assembled into frames. A new subscriber asks for a key
    frame, and the assembler starts afresh from it.
    """

    def __init__(
        self,
        info: TrackInfo,
        config: BridgeConfig,
        send_pli: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.info = info
        self._send_pli = send_pli
        self._clock = clock
        self._interval = config.keyframe_request_interval
        self._subscribers: list[FrameSubscriber] = []
        self._reorder_wait = config.reorder_wait
        self._video: VideoAssembler | None = None
        self._audio: AudioAssembler | None = None
        self._new_assemblers()
        self._last_pli = -1e9
        self._pli_pending = False
        self.muted = False
        self.ended = False
        self.rate = RateMeter()
        self.packets = 0
        self.malformed = 0
        self.frames = 0
        self.keyframes = 0
        self.keyframe_requests_sent = 0
        self._level_sum = 0
        self._level_count = 0
        # What a readiness check reads: the loudest RFC 6464 level heard and how many
        # packets carried one; the picture size of the latest key frame.
        self.loudest_level = SILENCE
        self.levels_seen = 0
        self.width: int | None = None
        self.height: int | None = None

    # -- subscribers -------------------------------------------------------------

    def subscribe(self, subscriber: FrameSubscriber) -> None:
        if subscriber not in self._subscribers:
            if not self._subscribers:  # packets went by unassembled: start afresh
                self._new_assemblers()
            self._subscribers = [*self._subscribers, subscriber]
            self.request_keyframe()

    def unsubscribe(self, subscriber: FrameSubscriber) -> None:
        if subscriber in self._subscribers:
            self._subscribers = [s for s in self._subscribers if s is not subscriber]

    @property
    def watched(self) -> bool:
        """Does anyone take this track's frames?"""
        return bool(self._subscribers)

    @property
    def subscribers(self) -> tuple[FrameSubscriber, ...]:
        return tuple(self._subscribers)

    def end(self) -> None:
        """The publisher is gone: tell every subscriber, once."""
        if self.ended:
            return
        self.ended = True
        subscribers, self._subscribers = self._subscribers, []
        for subscriber in subscribers:
            try:
                subscriber.on_track_ended(self.info)
            except Exception:
                logger.exception("frame subscriber %r failed on track end", subscriber)

    # -- keyframes ---------------------------------------------------------------

    def request_keyframe(self) -> None:
        if self.info.kind != "video" or self.ended:
            return
        if self._clock() - self._last_pli >= self._interval:
            self._pli_now()
        else:
            self._pli_pending = True

    def _pli_now(self) -> None:
        self._last_pli = self._clock()
        self._pli_pending = False
        self.keyframe_requests_sent += 1
        self._send_pli()

    # -- the hot path ------------------------------------------------------------

    def on_rtp(
        self,
        seq: int,
        timestamp: int,
        marker: bool,
        payload: bytes,
        arrival: float,
        audio_level: int | None = None,
    ) -> None:
        """One RTP packet from the publisher (already unwrapped from RTX)."""
        self.packets += 1
        if audio_level is not None:
            self._level_sum += audio_level
            self._level_count += 1
            self.levels_seen += 1
            if audio_level < self.loudest_level:
                self.loudest_level = audio_level
        if self._pli_pending and self._clock() - self._last_pli >= self._interval:
            self._pli_now()
        if not self._subscribers:
            self._count_idle(len(payload), marker, arrival)
            return
        try:
            frames = self._assemble(seq, timestamp, marker, payload, arrival)
        except ValueError as exc:
            self.malformed += 1
            logger.debug("%s: dropped RTP packet %d: %s", self.info.track_id, seq, exc)
            return
        for frame in frames:
            self._deliver(frame)

    def _count_idle(self, size: int, marker: bool, arrival: float) -> None:
        """No subscriber: keep the figures (a frame ends with the marker bit; an Opus
        packet is a frame) and nothing else."""
        frame_end = marker or self.info.kind == "audio"
        self.frames += frame_end
        self.rate.add(size, arrival, frames=frame_end)

    def _new_assemblers(self) -> None:
        if self.info.kind == "video":
            self._video = VideoAssembler(self._reorder_wait)
            self._video.need_keyframe = False  # `subscribe` asks for a key frame itself
        else:
            self._audio = AudioAssembler()

    def _assemble(
        self, seq: int, timestamp: int, marker: bool, payload: bytes, arrival: float
    ) -> list[EncodedFrame]:
        if self._video is not None:
            frames = self._video.push(seq, timestamp, marker, payload, arrival)
            if self._video.need_keyframe:
                self._video.need_keyframe = False
                self.request_keyframe()
            return frames
        assert self._audio is not None
        frame = self._audio.push(seq, timestamp, payload, arrival)
        return [] if frame is None else [frame]

    def _deliver(self, frame: EncodedFrame) -> None:
        self.frames += 1
        if frame.keyframe and self.info.kind == "video":
            self.keyframes += 1
            size = vp8_dimensions(frame.data)  # a few bytes, once per key frame
            if size is not None:
                self.width, self.height = size
        self.rate.add(len(frame.data), frame.wallclock)
        if self.muted:
            return
        for subscriber in self._subscribers:
            try:
                subscriber.on_frame(self.info, frame)
            except Exception:
                logger.exception("frame subscriber %r failed", subscriber)

    def take_audio_level(self) -> int:
        """Mean RFC 6464 level since the last call; silence if nothing was heard."""
        if not self._level_count or self.muted:
            level = SILENCE
        else:
            level = round(self._level_sum / self._level_count)
        self._level_sum = self._level_count = 0
        return level


class Slot(MediaStreamTrack):
    """A receive slot: a fixed sender towards one participant, fed by whichever published
    track the policy chooses.

    Switching sources never renegotiates: the sender keeps its SSRC and sequence numbers,
    and the slot rewrites RTP timestamps so they stay continuous; a video switch waits for
    a key frame of the new source (and asks for one). A frame goes out at once when the
    sender can take it (`send_now`), else it waits in a bounded queue: when a subscriber
    falls behind, video drops everything up to the next key frame.
    """

    def __init__(self, kind: TrackKind, role: SlotRole, index: int, config: BridgeConfig) -> None:
        super().__init__()
        self.kind = kind
        self.role = role
        self.index = index
        self.mid: str | None = None
        self.clock_rate = 90000 if kind == "video" else 48000
        self._time_base = Fraction(1, self.clock_rate)
        self._capacity = config.slot_queue_frames
        # (frame data, slot RTP timestamp, when it was queued: time.perf_counter())
        self._queue: deque[tuple[bytes, int, float]] = deque()
        self._wake = asyncio.Event()
        self.source: PublishedTrack | None = None
        self.live = False
        self._wait_keyframe = kind == "video"
        self._offset: int | None = None
        self._last_out: int | None = None
        self._last_wall = 0.0
        self.rate = RateMeter()
        self.frames_sent = 0
        self.frames_dropped = 0
        self.packets_nacked = 0  # packets the subscriber asked again (RFC 4585 NACK)
        self.keyframe_requests = 0  # the subscriber's PLI/FIR (RFC 4585 6.3.1, RFC 5104 4.3.1)
        self.switches = 0
        # A measurement hook (the benchmark's): called with each frame's time in the bridge,
        # from the arrival of its last packet at the socket (stamped by the receive path,
        # before SRTP, parsing and reassembly) to the departure of its last packet to this
        # subscriber (sent at once, or: the sender asks for the next frame once it has).
        # Frames whose arrival is not known (`complete` 0.0) are not measured.
        self.on_sent: Callable[[float], None] | None = None
        self._sending: float | None = None
        # Sends a frame at once if it can (`rtc.SlotSender.send_now`); else it is queued.
        self.send_now: Callable[[bytes, int], bool] | None = None

    @property
    def name(self) -> str:
        return f"{self.role}{self.index}" if self.role in ("thumbnail", "audio") else self.role

    def switch(self, source: PublishedTrack | None) -> bool:
        """Feed this slot from `source` (None: nothing). Returns whether it changed."""
        if source is self.source:
            return False
        if self.source is not None:
            self.source.unsubscribe(self)
        self.source = source
        self.switches += 1
        self._offset = None
        self._wait_keyframe = self.kind == "video"
        self._drop_queue()
        if source is not None and self.live:
            source.subscribe(self)
        return True

    def set_live(self, live: bool) -> None:
        """The peer connection is up (or down): only a live slot takes frames."""
        if live == self.live:
            return
        self.live = live
        if self.source is None:
            return
        if live:
            self._wait_keyframe = self.kind == "video"
            self.source.subscribe(self)
        else:
            self.source.unsubscribe(self)
            self._drop_queue()

    # -- FrameSubscriber ---------------------------------------------------------

    def on_frame(self, track: TrackInfo, frame: EncodedFrame) -> None:
        source = self.source
        if source is None or track is not source.info:
            return
        if self._wait_keyframe:
            if not frame.keyframe:
                self.frames_dropped += 1
                return
            self._wait_keyframe = False
        queue = self._queue
        if len(queue) >= self._capacity:
            self._fall_behind()
            if self._wait_keyframe and not frame.keyframe:
                return
        hook = self.on_sent
        timestamp = self._map_timestamp(frame)
        send_now = self.send_now
        if not queue and send_now is not None and send_now(frame.data, timestamp):
            self.frames_sent += 1
            self.rate.add(len(frame.data), frame.wallclock)
            if hook is not None and frame.complete:
                hook(time.time() - frame.complete)
            return
        queue.append((frame.data, timestamp, frame.complete))
        self._wake.set()

    def on_track_ended(self, track: TrackInfo) -> None:
        if self.source is not None and track is self.source.info:
            self.source = None
            self._drop_queue()

    def _fall_behind(self) -> None:
        """The subscriber does not keep up (STYLE 3): video skips to the next key frame
        and asks the publisher for one; audio loses its oldest packet."""
        if self.kind == "video":
            self._drop_queue()
            self._wait_keyframe = True
            if self.source is not None:
                self.source.request_keyframe()
        else:
            self._queue.popleft()
            self.frames_dropped += 1

    def _drop_queue(self) -> None:
        self.frames_dropped += len(self._queue)
        self._queue.clear()

    def _map_timestamp(self, frame: EncodedFrame) -> int:
        """Keep the slot's RTP clock running across source switches: the first frame of a
        new source lands after the last frame sent, by the wall-clock time in between."""
        if self._offset is None:
            if self._last_out is None:
                self._offset = -frame.timestamp
            else:
                gap = round((frame.wallclock - self._last_wall) * self.clock_rate)
                self._offset = self._last_out + max(gap, 1) - frame.timestamp
        out = frame.timestamp + self._offset
        self._last_out = out
        self._last_wall = frame.wallclock
        return out

    # -- pulled by the slot's sender task (`rtc.SlotSender`) when frames queue ----

    async def next_frame(self) -> tuple[bytes, int]:
        """The next frame to send and its slot RTP timestamp (`rtc.SlotSender` asks)."""
        if self._sending and self.on_sent is not None:
            self.on_sent(time.time() - self._sending)
        self._sending = None
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._wake.clear()
            await self._wake.wait()
        data, timestamp, self._sending = self._queue.popleft()
        self.frames_sent += 1
        self.rate.add(len(data), time.time())
        return data, timestamp

    async def recv(self) -> av.Packet[Any]:
        data, timestamp = await self.next_frame()
        packet = av.Packet(data)
        packet.pts = timestamp
        packet.time_base = self._time_base
        return packet

    def stop(self) -> None:
        self.switch(None)
        super().stop()
        self._wake.set()
