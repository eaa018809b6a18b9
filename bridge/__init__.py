"""The bridge's public face: what `web/` and `recording/` may use of it, and all they may.

Outside `bridge/` one imports `from bridge import …` these names and nothing else, and never
reaches into a room's participants or a peer's connection (tests/arrowkit.py checks both).
`web/` builds a `Bridge` with its `BridgeConfig`, an `Authorizer` and an `EventSink`, serves
each signaling WebSocket through `Bridge.connect`, reads what it measured through
`Bridge.measurement` and the figures for /metrics through `Bridge.stats`. `recording/` sees
only a room's `RoomTap`: the `EncodedFrame`s of every `TrackInfo` to a `FrameSubscriber`,
key frames on demand and the recording flag.
The benchmark (`bridge.bench`) is a user of the bridge beside it, run by the CLI.
"""

from bridge.config import BridgeConfig, IceServer
from bridge.contracts import (
    Admission,
    Authorizer,
    BridgeEvent,
    BridgeStats,
    EncodedFrame,
    EventSink,
    FrameSubscriber,
    InboundMeasure,
    JoinRefused,
    LoopLag,
    Measurement,
    MeasurementSource,
    ParticipantStats,
    ReturnMeasure,
    RoomStats,
    RoomTap,
    SignalingTransport,
    StatsSource,
    TrackInfo,
    TrackKind,
    TrackSource,
)
from bridge.errors import BridgeError
from bridge.eventloop import EVENT_LOOPS, EventLoopKind, new_event_loop
from bridge.service import Bridge
from bridge.signaling import CLIENT_MESSAGE_TYPES

__all__ = [
    "CLIENT_MESSAGE_TYPES",
    "EVENT_LOOPS",
    "Admission",
    "Authorizer",
    "Bridge",
    "BridgeConfig",
    "BridgeError",
    "BridgeEvent",
    "BridgeStats",
    "EncodedFrame",
    "EventLoopKind",
    "EventSink",
    "FrameSubscriber",
    "IceServer",
    "InboundMeasure",
    "JoinRefused",
    "LoopLag",
    "Measurement",
    "MeasurementSource",
    "ParticipantStats",
    "ReturnMeasure",
    "RoomStats",
    "RoomTap",
    "SignalingTransport",
    "StatsSource",
    "TrackInfo",
    "TrackKind",
    "TrackSource",
    "new_event_loop",
]
