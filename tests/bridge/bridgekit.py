"""Test kit for the bridge: a deadline helper, synthetic aiortc endpoints that publish
pre-encoded media and record exactly what they receive, and fake collaborators."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import av
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.codecs.vpx import vp8_depayload
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtcrtpsender import RTCEncodedFrame
from aiortc.rtp import RtcpSrPacket, RtpPacket

from bridge.contracts import Admission, BridgeEvent, JoinRefused
from tests.bridge.bridgekit_media import Clip, opus_clip, vp8_clip


async def wait_until(
    condition: Callable[[], object], what: str | Callable[[], str], timeout: float = 10.0
) -> None:
    """Wait until `condition()` holds; past the deadline, fail saying what was not met."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            detail = what() if callable(what) else what
            raise AssertionError(f"not met within {timeout} s: {detail}")
        await asyncio.sleep(0.01)


class PacketSource(MediaStreamTrack):
    """Plays a clip of encoded frames in real time, looping; a keyframe request makes the
    next frame the clip's key frame (index 0)."""

    def __init__(self, kind: str, clip: Clip, fps: float) -> None:
        super().__init__()
        self.kind = kind
        self.clip = clip
        self._interval = 1 / fps
        self._time_base = Fraction(1, clip.clock_rate)
        self._index = 0
        self._count = 0
        self._start: float | None = None
        self.sent: list[bytes] = []
        self.keyframe_requests = 0
        self.level = 127  # RFC 6464 level put on outgoing audio packets

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1
        self._index = 0

    async def recv(self) -> av.Packet[Any]:
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        delay = self._start + self._count * self._interval - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)  # media pacing, not a wait for a condition
        data = self.clip.frames[self._index]
        self._index = (self._index + 1) % len(self.clip.frames)
        packet = av.Packet(data)
        packet.pts = self._count * self.clip.ticks_per_frame
        packet.time_base = self._time_base
        self._count += 1
        self.sent.append(data)
        return packet


@dataclass
class Received:
    """What one receiving transceiver got, straight off the wire."""

    kind: str
    packets: list[RtpPacket] = field(default_factory=list)
    frames: list[bytes] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)
    sender_reports: list[RtcpSrPacket] = field(default_factory=list)
    _parts: list[bytes] = field(default_factory=list)

    def add(self, packet: RtpPacket) -> None:
        self.packets.append(packet)
        if self.kind == "audio":
            self.frames.append(packet.payload)
            self.timestamps.append(packet.timestamp)
            return
        self._parts.append(vp8_depayload(packet.payload))
        if packet.marker:
            self.frames.append(b"".join(self._parts))
            self.timestamps.append(packet.timestamp)
            self._parts = []

    @property
    def keyframes(self) -> int:
        return sum(1 for f in self.frames if self.kind == "video" and not f[0] & 1)


class Endpoint:
    """A synthetic participant: answers the bridge's offer, publishes clips, records."""

    def __init__(self, video: Clip, audio: Clip) -> None:
        # max-bundle: with the default policy an aiortc answerer leaves the extra video
        # m-lines on a transport it then discards (aiortc 1.16), and they receive nothing.
        self.pc = RTCPeerConnection(RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        self.camera = PacketSource("video", video, 30)
        self.microphone = PacketSource("audio", audio, 50)
        self.received: dict[str, Received] = {}
        self.slots: dict[str, dict[str, Any]] = {}

    async def answer(self, offer: str, publish: dict[str, str | None]) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        sources = {publish.get("camera"): self.camera, publish.get("microphone"): self.microphone}
        for transceiver in self.pc.getTransceivers():
            mid = transceiver.mid
            assert mid is not None
            if mid in sources:
                self._publish(transceiver, sources[mid])
            elif mid not in publish.values():
                self._record(transceiver, mid)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return str(self.pc.localDescription.sdp)

    def _publish(self, transceiver: Any, source: PacketSource) -> None:
        transceiver.sender.replaceTrack(source)
        transceiver.direction = "sendonly"
        sender = transceiver.sender
        sender._send_keyframe = source.request_keyframe
        if source.kind == "audio":
            original = sender._next_encoded_frame

            async def with_level(codec: Any) -> RTCEncodedFrame | None:
                frame: RTCEncodedFrame | None = await original(codec)
                if frame is not None:
                    frame.audio_level = -source.level  # aiortc writes -audio_level
                return frame

            sender._next_encoded_frame = with_level

    def _record(self, transceiver: Any, mid: str) -> None:
        received = self.received[mid] = Received(transceiver.kind)
        # aiortc's receiver reports (RFC 3550 6.4.2) come from these statistics: fed here
        # as aiortc would, the bridge gets loss, jitter and LSR/DLSR back, as from a browser.
        streams = transceiver.receiver._RTCRtpReceiver__remote_streams
        clock_rate = 90000 if transceiver.kind == "video" else 48000

        async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
            received.add(packet)
            if packet.ssrc not in streams:
                streams[packet.ssrc] = StreamStatistics(clock_rate)
            streams[packet.ssrc].add(packet)

        original_rtcp = transceiver.receiver._handle_rtcp_packet

        async def handle_rtcp(packet: Any) -> None:
            if isinstance(packet, RtcpSrPacket):
                received.sender_reports.append(packet)
            await original_rtcp(packet)

        transceiver.receiver._handle_rtp_packet = handle
        transceiver.receiver._handle_rtcp_packet = handle_rtcp

    def slot(self, name: str) -> Received:
        """What arrived in the named slot ("main", "thumbnail0", "audio1", ...)."""
        return self.received[self.slots[name]["mid"]]

    async def close(self) -> None:
        await self.pc.close()


@dataclass
class FakeTransport:
    """A WebSocket stand-in: collects what the bridge sends."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    closed: str | None = None

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    async def close(self, reason: str) -> None:
        self.closed = reason

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m.get("type") == kind]

    def last(self, kind: str) -> dict[str, Any]:
        found = self.of_type(kind)
        assert found, f"no {kind!r} message among {[m.get('type') for m in self.sent]}"
        return found[-1]


class FakeAuthorizer:
    def __init__(self) -> None:
        self.admissions: dict[str, Admission] = {}
        self.refusals: dict[str, JoinRefused] = {}

    def admit(
        self, pid: str, *, central: bool = False, chair: bool = False, endpoint: int = 0
    ) -> str:
        self.admissions[pid] = Admission(pid, f"Điểm cầu {pid}", endpoint, central, chair)
        return pid

    async def authorize(self, room_id: str, principal: Any) -> Admission:
        if principal in self.refusals:
            raise self.refusals[principal]
        if principal not in self.admissions:
            raise JoinRefused("not-attendee", "Tài khoản không tham dự phiên này")
        return self.admissions[principal]


@dataclass
class FakeSink:
    events: list[BridgeEvent] = field(default_factory=list)

    def emit(self, event: BridgeEvent) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


class Client:
    """A participant driven through the bridge's signaling, as `web/` would drive it."""

    _seeds = iter(range(100, 10_000))

    def __init__(self, bridge: Any, room_id: str, principal: str) -> None:
        self.bridge = bridge
        self.room_id = room_id
        self.principal = principal
        self.transport = FakeTransport()
        self.conn = bridge.connect(room_id, principal, self.transport)
        self.video = vp8_clip(next(self._seeds))
        self.endpoint: Endpoint | None = None
        self._offers = 0

    async def send(self, message: Any) -> None:
        await self.conn.handle(message)

    async def join(self, negotiate: bool = True) -> None:
        await self.send({"type": "join"})
        await wait_until(
            lambda: self.transport.of_type("joined") or self.transport.of_type("error"),
            f"{self.principal}: joined or error",
        )
        if negotiate and self.transport.of_type("joined"):
            await self.negotiate()

    async def negotiate(self) -> None:
        """Answer the newest offer with a fresh peer connection."""
        await wait_until(
            lambda: len(self.transport.of_type("offer")) > self._offers,
            f"{self.principal}: offer #{self._offers + 1}",
        )
        offer = self.transport.of_type("offer")[self._offers]
        self._offers += 1
        if self.endpoint is not None:
            await self.endpoint.close()
        self.endpoint = Endpoint(self.video, opus_clip())
        for slot in offer["slots"]:
            self.endpoint.slots[slot["slot"]] = slot
        answer = await self.endpoint.answer(offer["sdp"], offer["publish"])
        await self.send({"type": "answer", "sdp": answer})

    @property
    def ep(self) -> Endpoint:
        assert self.endpoint is not None
        return self.endpoint

    def source_of(self, slot: str) -> str | None:
        """Who the bridge last said feeds `slot` of this client."""
        for message in reversed(self.transport.of_type("slots")):
            for entry in message["slots"]:
                if entry["slot"] == slot:
                    return entry["participant_id"]  # type: ignore[no-any-return]
        return None

    def errors(self) -> list[dict[str, Any]]:
        return self.transport.of_type("error")

    async def close(self) -> None:
        await self.conn.stop()
        if self.endpoint is not None:
            await self.endpoint.close()


def is_run_of(got: list[bytes], sent: list[bytes]) -> bool:
    """Whether `got` is a contiguous run of `sent`: nothing re-encoded, lost or reordered."""
    return any(sent[i : i + len(got)] == got for i in range(len(sent) - len(got) + 1))
