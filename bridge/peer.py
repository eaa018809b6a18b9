"""One participant's peer connection: the tracks it publishes and its receive slots.

The bridge makes the offer, once: three receive-only transceivers for what the participant
publishes (microphone, camera, screen) and a fixed set of send-only slots (main picture,
screen, thumbnails, audio). Who feeds a slot changes later without renegotiation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp

from bridge.config import BridgeConfig
from bridge.contracts import (
    InboundMeasure,
    ParticipantStats,
    ReturnMeasure,
    TrackInfo,
    TrackKind,
    TrackSource,
)
from bridge.forwarding import PublishedTrack, Slot, SlotRole
from bridge.rtc import (
    FastReceive,
    InboundTap,
    SlotSender,
    codec_preferences,
    offer_transport_cc,
    remote_inbound,
)
from bridge.twcc import TransportFeedback

logger = logging.getLogger(__name__)

PUBLISHED: tuple[tuple[TrackSource, TrackKind], ...] = (
    ("microphone", "audio"),
    ("camera", "video"),
    ("screen", "video"),
)
CODEC_OF: dict[TrackKind, tuple[str, int]] = {"audio": ("opus", 48000), "video": ("VP8", 90000)}
# How often transport-wide feedback goes back while packets arrive (libwebrtc: 50-250 ms,
# Janus: 200 ms).
TRANSPORT_FEEDBACK_INTERVAL = 0.2


@dataclass(frozen=True, slots=True)
class SlotLayout:
    """How many slots of each role a participant receives."""

    thumbnails: int
    audio: int

    def roles(self) -> list[tuple[TrackKind, SlotRole, int]]:
        video: list[tuple[TrackKind, SlotRole, int]] = [
            ("video", "main", 0),
            ("video", "screen", 0),
        ]
        video += [("video", "thumbnail", i) for i in range(self.thumbnails)]
        return video + [("audio", "audio", i) for i in range(self.audio)]


@dataclass(frozen=True, slots=True)
class PeerOwner:
    """Who the peer belongs to, for the track descriptions it publishes."""

    room_id: str
    participant_id: str
    endpoint_id: int | None
    generation: int


StateCallback = Callable[["PeerLink", str], None]


class PeerLink:
    """Owns one RTCPeerConnection, its published tracks, slots and RTCP task."""

    def __init__(
        self, config: BridgeConfig, owner: PeerOwner, layout: SlotLayout, on_state: StateCallback
    ) -> None:
        self._config = config
        self.owner = owner
        self._on_state = on_state
        servers = [RTCIceServer(list(s.urls), s.username, s.credential) for s in config.ice_servers]
        self.pc = RTCPeerConnection(
            RTCConfiguration(iceServers=servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        self.published: dict[TrackSource, PublishedTrack] = {}
        self._taps: list[InboundTap] = []
        self._fast_receive: FastReceive | None = None
        self._senders: list[SlotSender] = []
        self.slots: list[Slot] = []
        self._published_transceivers: list[RTCRtpTransceiver] = []
        self._slot_transceivers: list[RTCRtpTransceiver] = []
        self._layout = layout
        self._wake = asyncio.Event()
        self._transport_feedback = TransportFeedback(self._wake.set)
        self._rtcp_task: asyncio.Task[None] | None = None
        self.state = "new"
        self.pc.on("connectionstatechange", self._state_changed)

    async def offer(self) -> str:
        """Create every transceiver and return the bridge's SDP offer."""
        offer_transport_cc()
        for source, kind in PUBLISHED:
            self._add_published(source, kind)
        for kind, role, index in self._layout.roles():
            self._add_slot(kind, role, index)
        description = await self.pc.createOffer()
        await self.pc.setLocalDescription(description)
        for slot, transceiver in zip(self.slots, self._slot_transceivers, strict=True):
            slot.mid = transceiver.mid
        self._rtcp_task = asyncio.create_task(self._run_rtcp(), name="bridge-rtcp")
        local = self.pc.localDescription
        assert local is not None
        return str(local.sdp)

    def published_mids(self) -> dict[str, str | None]:
        """Which m-line (mid) carries each published source."""
        pairs = zip(self.published, self._published_transceivers, strict=True)
        return {source: t.mid for source, t in pairs}

    def _add_published(self, source: TrackSource, kind: TrackKind) -> None:
        transceiver = self.pc.addTransceiver(kind, direction="recvonly")
        transceiver.setCodecPreferences(codec_preferences(kind))
        codec, clock_rate = CODEC_OF[kind]
        owner = self.owner
        info = TrackInfo(
            track_id=f"{owner.participant_id}/{source}/{owner.generation}",
            room_id=owner.room_id,
            participant_id=owner.participant_id,
            endpoint_id=owner.endpoint_id,
            kind=kind,
            source=source,
            codec=codec,
            clock_rate=clock_rate,
        )
        tap: InboundTap | None = None

        def want_pli() -> None:
            assert tap is not None
            tap.pli_wanted = True
            self._wake.set()

        track = PublishedTrack(info, self._config, want_pli)
        tap = InboundTap(
            transceiver, track, self._config.remb, self._wake.set, self._transport_feedback
        )
        self.published[source] = track
        self._taps.append(tap)
        self._published_transceivers.append(transceiver)

    def _add_slot(self, kind: TrackKind, role: SlotRole, index: int) -> None:
        slot = Slot(kind, role, index, self._config)
        transceiver = self.pc.addTransceiver(slot, direction="sendonly")
        transceiver.setCodecPreferences(codec_preferences(kind))

        def keyframe_request() -> None:
            slot.keyframe_requests += 1
            if slot.source is not None:
                slot.source.request_keyframe()

        def nack(packets: int) -> None:
            slot.packets_nacked += packets

        sender = SlotSender(transceiver.sender, slot, keyframe_request, nack)
        slot.send_now = sender.send_now
        self._senders.append(sender)
        self.slots.append(slot)
        self._slot_transceivers.append(transceiver)

    async def answer(self, sdp: str) -> None:
        """Apply the participant's answer; a bad one raises ValueError naming the fault."""
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except (ValueError, AssertionError, IndexError, KeyError) as exc:
            raise ValueError(f"the SDP answer was rejected: {exc or type(exc).__name__}") from exc
        except Exception as exc:  # aiortc raises InvalidStateError, OperationError
            raise ValueError(f"the SDP answer was rejected: {exc}") from exc

    async def add_candidate(self, candidate: str, sdp_mid: str | None, mline: int | None) -> None:
        """Add one trickled remote candidate ("candidate:..." as a browser sends it)."""
        text = candidate.removeprefix("candidate:")
        try:
            parsed = candidate_from_sdp(text)
        except (ValueError, AssertionError, IndexError) as exc:
            raise ValueError(f"malformed ICE candidate {candidate[:80]!r}") from exc
        parsed.sdpMid = sdp_mid
        parsed.sdpMLineIndex = mline
        await self.pc.addIceCandidate(parsed)

    def _state_changed(self) -> None:
        self.state = str(self.pc.connectionState)
        live = self.state == "connected"
        if live:
            if self._fast_receive is None:
                self._fast_receive = FastReceive(self._taps)
            self._fast_receive.install()
        for slot in self.slots:
            slot.set_live(live)
        self._on_state(self, self.state)

    async def _run_rtcp(self) -> None:
        """Keyframe requests, NACKs and REMBs as soon as they are due; transport-wide
        feedback every `TRANSPORT_FEEDBACK_INTERVAL` while numbered packets arrive; receiver
        and sender reports about once a second, jittered as RFC 3550 6.2 asks."""
        loop = asyncio.get_running_loop()
        next_report = loop.time() + 0.5 + random.random()
        next_transport: float | None = None
        transport = self._transport_feedback
        while True:
            # A timer handle rather than `wait_for`, which makes a task per wake-up.
            due = next_report if next_transport is None else min(next_report, next_transport)
            timer = loop.call_at(due, self._wake.set)
            try:
                await self._wake.wait()
            finally:
                timer.cancel()
            self._wake.clear()
            for tap in self._taps:
                await tap.send_feedback()
            now = loop.time()
            if transport.pending:
                if next_transport is None:
                    next_transport = now + TRANSPORT_FEEDBACK_INTERVAL
                elif now >= next_transport:
                    await self._taps[0].send_transport_feedback(transport)
                    next_transport = now + TRANSPORT_FEEDBACK_INTERVAL
            else:
                next_transport = None
            if loop.time() >= next_report:
                next_report = loop.time() + 0.5 + random.random()
                for tap in self._taps:
                    await tap.send_report()
                for sender in self._senders:
                    await sender.send_report()

    async def figures(self) -> dict[str, Any]:
        """RTT, loss, jitter, bitrate and frame rate of both directions, as plain data."""
        inbound = {}
        for tap, (source, track) in zip(self._taps, self.published.items(), strict=True):
            inbound[source] = {
                **tap.figures(),
                "bitrate_kbps": round(track.rate.bitrate / 1000, 1),
                "frame_rate": round(track.rate.frame_rate, 1),
                "frames": track.frames,
                "keyframe_requests": track.keyframe_requests_sent,
                "muted": track.muted,
            }
        outbound = {}
        for slot, transceiver in zip(self.slots, self._slot_transceivers, strict=True):
            report = remote_inbound(await transceiver.sender.getStats())
            jitter = report.pop("jitter")
            report["jitter_ms"] = (
                None if jitter is None else round(jitter * 1000 / slot.clock_rate, 2)
            )
            outbound[slot.name] = {
                **report,
                "source": None if slot.source is None else slot.source.info.track_id,
                "bitrate_kbps": round(slot.rate.bitrate / 1000, 1),
                "frame_rate": round(slot.rate.frame_rate, 1),
                "frames_sent": slot.frames_sent,
                "frames_dropped": slot.frames_dropped,
                "packets_nacked": slot.packets_nacked,
            }
        return {"state": self.state, "inbound": inbound, "outbound": outbound}

    def inbound_measures(self) -> tuple[InboundMeasure, ...]:
        """What the bridge received of each published track (read without awaiting)."""
        return tuple(tap.measure() for tap in self._taps)

    def return_measures(self) -> tuple[ReturnMeasure, ...]:
        """What the participant reported of each slot that sent it something."""
        out = []
        for slot, sender in zip(self.slots, self._senders, strict=True):
            remote = sender.remote
            if not sender.packets_sent and not remote.reports:
                continue
            rtt = remote.rtt
            out.append(
                ReturnMeasure(
                    slot=slot.name,
                    kind="video" if slot.kind == "video" else "audio",
                    source_participant_id=None
                    if slot.source is None
                    else slot.source.info.participant_id,
                    packets_sent=sender.packets_sent,
                    reports=remote.reports,
                    packets_lost=max(0, remote.packets_lost),
                    packets_sent_at_report=remote.sent_at_report,
                    fraction_lost=round(remote.fraction_lost / 256, 4),
                    jitter_ms=round(remote.jitter * 1000 / slot.clock_rate, 2)
                    if remote.reports
                    else None,
                    rtt_ms=None if rtt is None else round(rtt * 1000, 1),
                    rtt_samples=remote.rtt_samples,
                )
            )
        return tuple(out)

    def stats(self, state: str) -> ParticipantStats:
        """What this connection carried both ways, as counters (read without awaiting);
        `state` is the participant's, which the room knows."""
        tracks, slots = self.published.values(), self.slots
        measures = self.inbound_measures()
        return ParticipantStats(
            participant_id=self.owner.participant_id,
            state=state,
            connected=self.state == "connected",
            packets_in=sum(t.packets for t in tracks),
            bytes_in=sum(t.rate.total_bytes for t in tracks),
            media_packets_received=sum(m.packets_received for m in measures),
            packets_lost=sum(m.packets_lost for m in measures),
            packets_out=sum(sender.packets_sent for sender in self._senders),
            bytes_out=sum(s.rate.total_bytes for s in slots),
            frames_dropped=sum(s.frames_dropped for s in slots),
            nacks_sent=sum(tap.nacks_sent for tap in self._taps),
            nacked_packets=sum(s.packets_nacked for s in slots),
            keyframe_requests_sent=sum(t.keyframe_requests_sent for t in tracks),
            keyframe_requests_received=sum(s.keyframe_requests for s in slots),
        )

    async def close(self) -> None:
        if self._rtcp_task is not None:
            self._rtcp_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._rtcp_task
            self._rtcp_task = None
        if self._fast_receive is not None:
            self._fast_receive.uninstall()
        for track in self.published.values():
            track.end()
        for slot in self.slots:
            slot.stop()
        await self.pc.close()
