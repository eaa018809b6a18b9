"""The contracts the bridge offers and needs, and nothing else.

`web/` implements `Authorizer` and `EventSink` at start-up; `recording/` implements
`FrameSubscriber` to receive the encoded frames of a published track from a room's `RoomTap`;
the bridge offers `MeasurementSource`, what it measured of a participant's media (a readiness
check's basis), and `StatsSource`, the figures an operator watches. This module imports
nothing of ours, so every other package may depend on it (through the face,
`bridge/__init__.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

TrackKind = Literal["audio", "video"]
TrackSource = Literal["microphone", "camera", "screen"]


@dataclass(frozen=True, slots=True)
class TrackInfo:
    """What a published track is: whose, which source, which codec."""

    track_id: str
    room_id: str
    participant_id: str
    endpoint_id: int | None
    kind: TrackKind
    source: TrackSource
    codec: str  # MIME subtype as negotiated: "VP8", "H264", "opus"
    clock_rate: int


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One complete encoded frame, as the publisher sent it (never decoded by the bridge).

    `timestamp` is the RTP timestamp (in `TrackInfo.clock_rate` units, unwrapped so it only
    grows); `wallclock` is the UNIX time in seconds at which its first packet arrived;
    `complete` the time its last packet arrived (0.0: not known), from which the bridge's
    own delay is measured.
    """

    data: bytes
    timestamp: int
    keyframe: bool
    wallclock: float
    complete: float = 0.0


class FrameSubscriber(Protocol):
    """Receives the frames of one published track. Must not block: it is called on the
    forwarding path; a slow consumer keeps its own bounded queue and drops to a keyframe."""

    def on_frame(self, track: TrackInfo, frame: EncodedFrame) -> None: ...

    def on_track_ended(self, track: TrackInfo) -> None: ...


class RoomTap(Protocol):
    """What a recorder uses of a room (`Bridge.room` and `Bridge.open_room` return rooms that
    are one): every published track's encoded frames, a key frame on demand, and the room's
    recording flag, which the chair's control and `web/` turn on and off."""

    @property
    def recording(self) -> bool: ...

    def add_frame_subscriber(self, subscriber: FrameSubscriber) -> None:
        """Deliver the frames of every track published in the room, now and later."""
        ...

    def remove_frame_subscriber(self, subscriber: FrameSubscriber) -> None: ...

    def request_keyframes(self) -> None:
        """Ask every video publisher for a key frame (rate-limited per track)."""
        ...

    def request_keyframe(self, track_id: str) -> bool:
        """Ask one track's publisher for a key frame; False when it is not published here."""
        ...

    async def set_recording(
        self, active: bool, reason: str | None = None, by: str | None = None
    ) -> None:
        """Turn the flag on or off, telling everyone (raises BridgeError once closed)."""
        ...


@dataclass(frozen=True, slots=True)
class Admission:
    """What the authorizer grants a caller who may join a room."""

    participant_id: str
    display_name: str
    endpoint_id: int | None
    is_central: bool
    may_chair: bool  # give the floor, mute, remove, record, next agenda item
    extra: dict[str, Any] = field(default_factory=dict)
    # A test room's participant: its own camera and microphone come back to it through its
    # receive slots (the readiness check measures the round trip through the bridge).
    loopback: bool = False


class JoinRefused(Exception):
    """Raised by an authorizer: the message is shown to the caller (Vietnamese)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Authorizer(Protocol):
    async def authorize(self, room_id: str, principal: Any) -> Admission:
        """Return the admission or raise JoinRefused."""
        ...


@dataclass(frozen=True, slots=True)
class BridgeEvent:
    """Something that happened in a room, reported to `web/` through the event sink."""

    room_id: str
    kind: str  # "join", "leave", "floor", "mute", "remove", "speaker", "recording", "agenda"
    at: float  # UNIX time, seconds
    participant_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class EventSink(Protocol):
    def emit(self, event: BridgeEvent) -> None:
        """Must not block; the sink queues what it must persist."""
        ...


class SignalingTransport(Protocol):
    """How the bridge talks to one client: `web/` wraps a WebSocket in this.

    `send` gets JSON-ready dicts in order; `close` is called once when the bridge ends the
    conversation (removed, replaced, left, or the client stopped reading).
    """

    async def send(self, message: dict[str, Any]) -> None: ...

    async def close(self, reason: str) -> None: ...


@dataclass(frozen=True, slots=True)
class InboundMeasure:
    """What the bridge measured of one track a participant publishes, since its peer
    connection started: its own receive statistics (RFC 3550 A.3, A.8), never a figure the
    participant reported."""

    source: TrackSource
    kind: TrackKind
    packets_received: int  # media packets (retransmissions not counted)
    packets_lost: int  # expected - received: a packet repaired by RTX still counts as lost
    jitter_ms: float
    frames: int
    keyframes: int  # counted while the track is watched (always in a test room)
    seconds: float  # from the first frame to the latest
    bitrate_kbps: float  # the mean from the first frame to the reading, of the encoded media
    frame_rate: float  # the mean from the first frame to the reading
    muted: bool
    # Video: the size in the latest key frame's header (None before one was seen).
    width: int | None = None
    height: int | None = None
    # Audio: the loudest RFC 6464 level heard, in dBov (None when no packet carried one).
    loudest_dbov: float | None = None


@dataclass(frozen=True, slots=True)
class ReturnMeasure:
    """What the participant's receiver reports (RTCP RR, RFC 3550 6.4.1) say of one slot
    the bridge sends it."""

    slot: str  # "main", "audio0", ...
    kind: TrackKind
    source_participant_id: str | None  # whose track the slot carries now
    packets_sent: int
    reports: int  # report blocks received about this slot
    packets_lost: int  # cumulative, as of the latest report
    packets_sent_at_report: int  # what the bridge had sent when that report came
    fraction_lost: float  # of the latest report's interval, 0..1
    jitter_ms: float | None  # None before the first report
    rtt_ms: float | None  # the median of recent LSR/DLSR round trips; None before one
    rtt_samples: int


@dataclass(frozen=True, slots=True)
class Measurement:
    """What the bridge measured of one participant: the media it received from it and what
    the participant reported of the media the bridge sent it (`Bridge.measurement`)."""

    room_id: str
    participant_id: str
    endpoint_id: int | None
    state: str  # "connecting", "live", "away"
    connected: bool  # the peer connection is up
    at: float  # UNIX time of the reading
    inbound: tuple[InboundMeasure, ...] = ()
    returned: tuple[ReturnMeasure, ...] = ()  # the slots that sent something

    def track(self, source: TrackSource) -> InboundMeasure | None:
        return next((t for t in self.inbound if t.source == source), None)


class MeasurementSource(Protocol):
    """Where `web/` reads what the bridge measured (no database, no awaiting)."""

    def measurement(self, room_id: str, participant_id: str) -> Measurement | None:
        """None when the room or the participant is not there."""
        ...


# -- what an operator watches (`Bridge.stats`, read by web/'s /metrics) ---------------------


@dataclass(frozen=True, slots=True)
class ParticipantStats:
    """The traffic of one participant's current peer connection, counted since it started
    (a reconnection starts the counts afresh). Only opaque ids: never a name."""

    participant_id: str
    state: str  # "connecting", "live", "away"
    connected: bool
    packets_in: int = 0  # RTP packets of its published tracks (RTX included, padding not)
    bytes_in: int = 0  # their encoded payload bytes
    media_packets_received: int = 0  # media packets, RTX not counted (RFC 3550 A.3)
    packets_lost: int = 0  # of its media packets: expected - received
    packets_out: int = 0  # RTP packets sent to it (retransmissions not counted)
    bytes_out: int = 0  # encoded frame bytes sent to it
    frames_dropped: int = 0  # frames its receive slots dropped (it fell behind, or a switch)
    nacks_sent: int = 0  # NACK messages the bridge sent it about its media (RFC 4585 6.2.1)
    nacked_packets: int = 0  # packets it asked again of what it receives (its NACKs)
    keyframe_requests_sent: int = 0  # PLIs the bridge sent it (rate-limited)
    keyframe_requests_received: int = 0  # PLI/FIR it sent about what it receives

    @property
    def loss(self) -> float | None:
        """Fraction lost of what it publishes, since its connection started; None before
        any packet was expected."""
        expected = self.media_packets_received + self.packets_lost
        return self.packets_lost / expected if expected else None


@dataclass(frozen=True, slots=True)
class RoomStats:
    room_id: str
    participants: tuple[ParticipantStats, ...]


@dataclass(frozen=True, slots=True)
class LoopLag:
    """How late the event loop ran a timer (the probe's), in seconds: the latest reading,
    the worst of the recent window, and a cumulative histogram (upper bounds, counts)."""

    latest: float
    window_max: float
    buckets: tuple[tuple[float, int], ...]  # (le, cumulative count), +Inf last
    count: int
    total: float


@dataclass(frozen=True, slots=True)
class BridgeStats:
    rooms: tuple[RoomStats, ...]
    loop_lag: LoopLag | None  # None while the probe is not running


class StatsSource(Protocol):
    """Where `web/` reads the bridge's figures (no awaiting, no change)."""

    def stats(self) -> BridgeStats: ...
