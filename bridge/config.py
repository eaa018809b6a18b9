"""The bridge's settings: data passed in by the composition root, never read from the
environment here (STYLE 6)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class IceServer:
    """A STUN or TURN server the bridge's own peer connections may use."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None


@dataclass(frozen=True, slots=True)
class BridgeConfig:
    """Every tunable of the SFU, with defaults that suit a provincial session."""

    ice_servers: tuple[IceServer, ...] = ()
    # Resilience: a participant whose link drops keeps its place this long.
    grace_period: float = 30.0
    # Receive slots negotiated once per participant (STYLE: no renegotiation on switches).
    thumbnail_slots: int = 3
    central_thumbnail_slots: int = 8
    audio_slots: int = 3
    # Keyframe requests towards one publisher: at most one per interval (seconds).
    keyframe_request_interval: float = 0.3
    # Per-slot bounded queue of encoded frames; past it, video drops to the next keyframe.
    slot_queue_frames: int = 30
    # Frame reassembly: how long a complete frame waits behind a missing one (seconds).
    reorder_wait: float = 0.15
    # Speaker detection, on RFC 6464 levels (0 = loudest, 127 = silence).
    speaker_tick: float = 0.25
    speaking_level: int = 60  # at or below this level (-dBov) a participant is speaking
    speaker_smoothing: float = 0.5  # weight of the newest tick in the moving average
    dominant_margin: float = 6.0  # dB louder than the current dominant speaker ...
    dominant_hold_ticks: int = 3  # ... for this many ticks in a row before switching
    # Signaling: messages queued towards one client before it is considered dead.
    outbound_queue_messages: int = 256
    # Receiver estimated maximum bitrate feedback to publishers (costs CPU per packet).
    remb: bool = True
    # Largest signaling message accepted, in characters of SDP / candidate text.
    max_sdp_chars: int = 100_000

    def __post_init__(self) -> None:
        for name in ("grace_period", "keyframe_request_interval", "speaker_tick"):
            if getattr(self, name) <= 0:
                raise ValueError(f"BridgeConfig.{name} must be positive")
        for name in ("slot_queue_frames", "audio_slots", "dominant_hold_ticks"):
            if getattr(self, name) < 1:
                raise ValueError(f"BridgeConfig.{name} must be at least 1")
        if not 0 < self.speaker_smoothing <= 1:
            raise ValueError("BridgeConfig.speaker_smoothing must be in (0, 1]")
