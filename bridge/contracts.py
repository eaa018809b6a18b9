"""The contracts the bridge offers and needs, and nothing else.

`web/` implements `Authorizer` and `EventSink` at start-up; `recording/` implements
`FrameSubscriber` to receive the encoded frames of a published track. This module imports
nothing of ours, so every other package may depend on it.
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
    grows); `wallclock` is the UNIX time in seconds at which its first packet arrived.
    """

    data: bytes
    timestamp: int
    keyframe: bool
    wallclock: float


class FrameSubscriber(Protocol):
    """Receives the frames of one published track. Must not block: it is called on the
    forwarding path; a slow consumer keeps its own bounded queue and drops to a keyframe."""

    def on_frame(self, track: TrackInfo, frame: EncodedFrame) -> None: ...

    def on_track_ended(self, track: TrackInfo) -> None: ...


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
