"""The seam between the bridge and aiortc: every use of an aiortc internal lives here.

aiortc routes RTP and RTCP from its DTLS transport to receivers and senders through two
small protocols (`RtpReceiver._handle_rtp_packet`, `_handle_rtcp_packet`, and the sender's
`_handle_rtcp_packet`; see aiortc `rtcdtlstransport.py`). The bridge plugs in there:

- `InboundTap` replaces a receiver's packet handler, so packets of a published track go
  to the forwarder instead of the jitter buffer and the decoder thread, which is stopped
  as soon as aiortc starts it. It keeps what a receiver owes its publisher: statistics and
  receiver reports, NACKs (RFC 4585), RTX unwrapping (RFC 4588), PLIs and REMB.
- `hook_keyframe_requests` lets a subscriber's PLI/FIR reach the forwarder; the sender
  keeps answering NACKs from its own history.

Senders are fed encoded packets through the public track interface (`forwarding.Slot`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiortc import RTCRtpSender, RTCRtpTransceiver
from aiortc.rate import RemoteBitrateEstimator
from aiortc.rtcrtpparameters import RTCRtpCodecCapability, RTCRtpReceiveParameters
from aiortc.rtcrtpreceiver import NackGenerator, StreamStatistics
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
    unwrap_rtx,
)

from bridge.contracts import TrackKind
from bridge.forwarding import PublishedTrack

logger = logging.getLogger(__name__)

# The only codecs the bridge offers, so publishers and subscribers always agree.
FORWARDED_MIME_TYPES = {"audio": ("audio/opus",), "video": ("video/VP8", "video/rtx")}


def codec_preferences(kind: TrackKind) -> list[RTCRtpCodecCapability]:
    wanted = FORWARDED_MIME_TYPES[kind]
    capabilities = RTCRtpSender.getCapabilities(kind).codecs
    return [c for c in capabilities if c.mimeType in wanted]


def _patch(obj: object, name: str, value: Callable[..., Awaitable[None]]) -> None:
    # A per-instance override of the method aiortc's transport calls (see module doc).
    setattr(obj, name, value)


class InboundTap:
    """Takes over the RTP path of one aiortc receiver and feeds a `PublishedTrack`."""

    def __init__(self, transceiver: RTCRtpTransceiver, track: PublishedTrack, remb: bool) -> None:
        self.track = track
        self._receiver = transceiver.receiver
        self._rtcp_ssrc: int = transceiver.sender._ssrc
        self._video = track.info.kind == "video"
        self._nack = NackGenerator() if self._video else None
        self._remb = RemoteBitrateEstimator() if remb and self._video else None
        self._codecs: dict[int, Any] = {}
        self._rtx_apt: dict[int, int] = {}
        self._rtx_ssrc: dict[int, int] = {}
        self._stats: StreamStatistics | None = None
        self.media_ssrc: int | None = None
        self._lsr: tuple[int, float] | None = None
        self.pli_wanted = False
        self.nacks_sent = 0
        self.rtx_received = 0
        self._original_receive = self._receiver.receive
        self._original_rtcp = self._receiver._handle_rtcp_packet
        _patch(self._receiver, "receive", self._receive)
        _patch(self._receiver, "_handle_rtp_packet", self._handle_rtp_packet)
        _patch(self._receiver, "_handle_rtcp_packet", self._handle_rtcp_packet)

    async def _receive(self, parameters: RTCRtpReceiveParameters) -> None:
        await self._original_receive(parameters)
        # aiortc has just started a decoder thread: stop it, nothing will reach it.
        self._receiver._handle_disconnect()
        for codec in parameters.codecs:
            if codec.payloadType is None:
                continue
            self._codecs[codec.payloadType] = codec
            if codec.mimeType.lower().endswith("/rtx"):
                self._rtx_apt[codec.payloadType] = int(str(codec.parameters["apt"]))
        for encoding in parameters.encodings:
            if encoding.rtx:
                self._rtx_ssrc[encoding.rtx.ssrc] = encoding.ssrc

    async def _handle_rtcp_packet(self, packet: Any) -> None:
        if isinstance(packet, RtcpSrPacket):
            # Middle 32 bits of the NTP time, echoed as LSR (RFC 3550 6.4.1).
            self._lsr = ((packet.sender_info.ntp_timestamp >> 16) & 0xFFFFFFFF, time.time())
        await self._original_rtcp(packet)

    async def _handle_rtp_packet(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        codec = self._codecs.get(packet.payload_type)
        if codec is None:
            return
        send_time = packet.extensions.abs_send_time
        if self._remb is not None and send_time is not None:
            await self._feed_remb(packet, send_time, arrival_time_ms)
        apt = self._rtx_apt.get(packet.payload_type)
        if apt is not None:
            unwrapped = self._unwrap_rtx(packet, apt)
            if unwrapped is None:
                return
            packet = unwrapped
        else:
            self._count(packet, codec.clockRate)
        if self._nack is not None and self._nack.add(packet):
            self.nacks_sent += 1
            await self._receiver._send_rtcp_nack(packet.ssrc, sorted(self._nack.missing))
        if not packet.payload:
            return  # padding only
        level = packet.extensions.audio_level
        self.track.on_rtp(
            packet.sequence_number,
            packet.timestamp,
            bool(packet.marker),
            packet.payload,
            time.time(),
            None if level is None else level[1],
        )

    def _count(self, packet: RtpPacket, clock_rate: int) -> None:
        if self.media_ssrc != packet.ssrc:
            self.media_ssrc = packet.ssrc
            self._stats = StreamStatistics(clock_rate)
        assert self._stats is not None
        self._stats.add(packet)

    def _unwrap_rtx(self, packet: RtpPacket, apt: int) -> RtpPacket | None:
        ssrc = self._rtx_ssrc.get(packet.ssrc, self.media_ssrc)
        if ssrc is None or len(packet.payload) < 2:
            return None  # RTX padding probe, or nothing to repair yet
        self.rtx_received += 1
        return unwrap_rtx(packet, payload_type=apt, ssrc=ssrc)

    async def _feed_remb(self, packet: RtpPacket, send_time: int, arrival_time_ms: int) -> None:
        assert self._remb is not None
        remb = self._remb.add(
            abs_send_time=send_time,
            arrival_time_ms=arrival_time_ms,
            payload_size=len(packet.payload) + packet.padding_size,
            ssrc=packet.ssrc,
        )
        if remb is not None:
            fci = pack_remb_fci(*remb)
            feedback = RtcpPsfbPacket(
                fmt=RTCP_PSFB_APP, ssrc=self._rtcp_ssrc, media_ssrc=0, fci=fci
            )
            await self._receiver._send_rtcp(feedback)

    # -- RTCP towards the publisher, sent by the peer's RTCP task ------------------

    async def send_pli(self) -> None:
        if self.pli_wanted and self.media_ssrc is not None:
            self.pli_wanted = False
            await self._receiver._send_rtcp_pli(self.media_ssrc)

    async def send_report(self) -> None:
        stats = self._stats
        if stats is None or self.media_ssrc is None or stats.max_seq is None:
            return
        lsr, dlsr = 0, 0
        if self._lsr is not None:
            delay = time.time() - self._lsr[1]
            lsr, dlsr = self._lsr[0], int(delay * 65536) if 0 < delay < 65536 else 0
        info = RtcpReceiverInfo(
            ssrc=self.media_ssrc,
            fraction_lost=stats.fraction_lost,
            packets_lost=stats.packets_lost,
            highest_sequence=stats.max_seq,
            jitter=stats.jitter,
            lsr=lsr,
            dlsr=dlsr,
        )
        await self._receiver._send_rtcp(RtcpRrPacket(ssrc=self._rtcp_ssrc, reports=[info]))

    def figures(self) -> dict[str, float | int]:
        stats = self._stats
        clock_rate = 90000 if self._video else 48000
        return {
            "packets_received": stats.packets_received if stats else 0,
            "packets_lost": stats.packets_lost if stats else 0,
            "jitter_ms": round(stats.jitter * 1000 / clock_rate, 2) if stats else 0.0,
            "nacks_sent": self.nacks_sent,
            "rtx_received": self.rtx_received,
        }


def hook_keyframe_requests(sender: RTCRtpSender, on_request: Callable[[], None]) -> None:
    """Call `on_request` for each PLI or FIR (RFC 4585 6.3.1, RFC 5104 4.3.1) a subscriber
    sends about this sender's stream; aiortc still handles NACKs and reports."""
    original = sender._handle_rtcp_packet

    async def handle(packet: Any) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            on_request()
        await original(packet)

    _patch(sender, "_handle_rtcp_packet", handle)


def remote_inbound(stats: Any) -> dict[str, float | int | None]:
    """RTT, loss and jitter a subscriber reported about one sender (RTCP RR)."""
    for item in stats.values():
        if item.type == "remote-inbound-rtp":
            return {
                "rtt_ms": None
                if item.roundTripTime is None
                else round(item.roundTripTime * 1000, 1),
                "fraction_lost": round(item.fractionLost / 256, 4),
                "packets_lost": item.packetsLost,
                "jitter": item.jitter,
            }
    return {"rtt_ms": None, "fraction_lost": None, "packets_lost": None, "jitter": None}
