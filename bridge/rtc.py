"""The seam between the bridge and aiortc: every use of an aiortc internal lives here.

aiortc routes RTP and RTCP from its DTLS transport to receivers and senders through two
small protocols (`RtpReceiver._handle_rtp_packet`, `_handle_rtcp_packet`, and the sender's
`_handle_rtcp_packet`; see aiortc `rtcdtlstransport.py`). The bridge plugs in there:

- `InboundTap` replaces a receiver's packet handler, so packets of a published track go
  to the forwarder instead of the jitter buffer and the decoder thread, which is stopped
  as soon as aiortc starts it. It keeps what a receiver owes its publisher: statistics and
  receiver reports, NACKs (RFC 4585), RTX unwrapping (RFC 4588), PLIs and REMB.
- `SlotSender` replaces a sender's RTP loop: it takes a slot's encoded frames, writes
  their RTP packets itself and answers NACKs from its own history; a subscriber's PLI/FIR
  reaches the forwarder. aiortc keeps negotiation, SRTP, sender reports and statistics.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aioice.ice import StunProtocol
from aiortc import RTCRtpSender, RTCRtpTransceiver
from aiortc.codecs import is_rtx
from aiortc.codecs.vpx import PACKET_MAX
from aiortc.mediastreams import MediaStreamError
from aiortc.rate import RemoteBitrateEstimator
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import (
    RTCRtpCodecCapability,
    RTCRtpReceiveParameters,
    RTCRtpSendParameters,
)
from aiortc.rtcrtpreceiver import NackGenerator, StreamStatistics
from aiortc.rtcrtpsender import random_sequence_number
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
    unwrap_rtx,
)
from aiortc.utils import random32

from bridge.contracts import TrackKind
from bridge.forwarding import PublishedTrack

logger = logging.getLogger(__name__)

# The only codecs the bridge offers, so publishers and subscribers always agree.
FORWARDED_MIME_TYPES = {"audio": ("audio/opus",), "video": ("video/VP8", "video/rtx")}


MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900 (NTP) to 1970 (Unix), RFC 5905
NTP_FRACTION = 1 << 32
HEADER = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, sequence number, timestamp, SSRC
HISTORY_SIZE = 512  # packets kept for NACKs: about a second of the main picture


def codec_preferences(kind: TrackKind) -> list[RTCRtpCodecCapability]:
    wanted = FORWARDED_MIME_TYPES[kind]
    capabilities = RTCRtpSender.getCapabilities(kind).codecs
    return [c for c in capabilities if c.mimeType in wanted]


class WindowRate:
    """aiortc's `RateCounter` (rate.py) for `RemoteBitrateEstimator`, same answers, cheaper.

    aiortc keeps 1000 one-millisecond buckets, allocates all of them again on every
    `reset()` (the estimator resets after each silent second) and walks them one by one
    as time passes; profiling the bridge put a fifth of its CPU there. This keeps one
    entry per packet of the last `window_ms` instead.
    """

    __slots__ = ("_entries", "_origin", "_scale", "_total", "_window")

    def __init__(self, window_ms: int = 1000, scale: int = 8000) -> None:
        self._window = window_ms
        self._scale = scale
        self._entries: deque[tuple[int, int]] = deque()
        self._origin: int | None = None
        self._total = 0

    def add(self, value: int, now_ms: int) -> None:
        if self._origin is None:
            self._origin = now_ms
        else:
            self._erase_old(now_ms)
        self._entries.append((now_ms, value))
        self._total += value

    def rate(self, now_ms: int) -> int | None:
        if self._origin is None:
            return None
        self._erase_old(now_ms)
        active = now_ms - self._origin + 1
        if self._entries and active > 1:
            return round(self._scale * self._total / active)
        return None

    def reset(self) -> None:
        self._entries.clear()
        self._origin = None
        self._total = 0

    def _erase_old(self, now_ms: int) -> None:
        oldest = now_ms - self._window + 1
        assert self._origin is not None
        if self._origin < oldest:
            self._origin = oldest
        entries = self._entries
        while entries and entries[0][0] < oldest:
            self._total -= entries.popleft()[1]


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
        if self._remb is not None:
            self._remb.incoming_bitrate = WindowRate()  # type: ignore[assignment]
        self._remb_bytes = 0  # of the frame under way, for its one REMB sample
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
        router = self._receiver.transport._rtp_router
        for encoding in parameters.encodings:
            if encoding.rtx:
                self._rtx_ssrc[encoding.rtx.ssrc] = encoding.ssrc
                # aiortc routes by SSRC, else by payload type when one receiver has it; the
                # RTX payload type is shared by every video m-line of the bundle, so without
                # this a camera's retransmissions are dropped while the screen is shared.
                router.ssrc_table[encoding.rtx.ssrc] = self._receiver

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
            # The estimator groups packets sent within 5 ms and uses each group's last
            # packet and total size (aiortc `InterArrival`, after libwebrtc): a frame is
            # such a burst, so one sample per frame gives it nearly the same input.
            self._remb_bytes += len(packet.payload) + packet.padding_size
            if packet.marker:
                await self._feed_remb(packet.ssrc, send_time, arrival_time_ms)
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

    async def _feed_remb(self, ssrc: int, send_time: int, arrival_time_ms: int) -> None:
        assert self._remb is not None
        size, self._remb_bytes = self._remb_bytes, 0
        remb = self._remb.add(
            abs_send_time=send_time, arrival_time_ms=arrival_time_ms, payload_size=size, ssrc=ssrc
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


class FrameQueue(Protocol):
    """What a `SlotSender` sends: encoded frames with the slot's RTP timestamps."""

    async def next_frame(self) -> tuple[bytes, int]:
        """The next frame and its RTP timestamp; raises `MediaStreamError` once stopped."""
        ...


class SlotSender:
    """Sends a slot's frames on one aiortc sender, in place of the sender's `_run_rtp`.

    aiortc would wrap each frame in an `av.Packet`, have its codec packetize it, build and
    serialize an `RtpPacket` per packet (two wall-clock readings through `datetime` each)
    and keep those objects for NACKs. Here a frame's headers come from one `struct.pack`
    each and one clock reading per frame, and the history keeps the bytes. What stays
    aiortc's: negotiation, SRTP and the transport, sender reports (fed the counters it
    reads) and statistics. Also relays PLI/FIR (RFC 4585 6.3.1, RFC 5104 4.3.1) to
    `on_keyframe` and counts the packets NACKs (RFC 4585 6.2.1) ask again in `on_nack`;
    a NACKed packet goes again as RTX (RFC 4588) when the subscriber negotiated it.
    """

    def __init__(
        self,
        sender: RTCRtpSender,
        frames: FrameQueue,
        on_keyframe: Callable[[], None],
        on_nack: Callable[[int], None],
    ) -> None:
        self._sender = sender
        self._frames = frames
        self._video = sender.kind == "video"
        self._on_keyframe = on_keyframe
        self._on_nack = on_nack
        self._pt = 0
        self._rtx_pt: int | None = None
        self._ext_head = b""  # the RFC 8285 one-byte extension block up to abs-send-time
        self._ext_pad = b""
        self._abs_send_time = False
        self._seq = random_sequence_number()
        self._rtx_seq = random_sequence_number()
        self._ts_origin = random32()
        self._picture_id = random_sequence_number() & 0x7FFF
        # seq % HISTORY_SIZE: (seq, timestamp, marker, payload)
        self._history: dict[int, tuple[int, int, bool, bytes]] = {}
        self._route_pair: Any = None  # the ICE pair `_route_send` was made for
        self._route_udp: Any = None
        self._route_send: Callable[[bytes], None] | None = None
        self._started = False
        self._busy = False  # the RTP task is sending a queued frame: nothing may overtake it
        self._original_send = sender.send
        self._original_rtcp = sender._handle_rtcp_packet
        _patch(sender, "send", self._send)
        _patch(sender, "_run_rtp", self._run_rtp)
        _patch(sender, "_handle_rtcp_packet", self._handle_rtcp_packet)

    async def _send(self, parameters: RTCRtpSendParameters) -> None:
        codec = parameters.codecs[0]
        assert codec.payloadType is not None
        self._pt = codec.payloadType
        for other in parameters.codecs:
            if is_rtx(other) and other.parameters.get("apt") == self._pt:
                self._rtx_pt = other.payloadType
        elements, abs_id = b"", 0
        for ext in parameters.headerExtensions:
            if ext.uri == MID_URI and parameters.muxId:
                mid = parameters.muxId.encode()
                elements += bytes([(ext.id << 4) | (len(mid) - 1)]) + mid
            elif ext.uri == ABS_SEND_TIME_URI:
                self._abs_send_time = True
                abs_id = ext.id
        if self._abs_send_time:
            elements += bytes([(abs_id << 4) | 2])  # its 3 bytes follow, per frame
        size = len(elements) + 3 * self._abs_send_time
        self._ext_pad = b"\0" * (-size % 4)
        self._ext_head = struct.pack("!HH", 0xBEDE, (size + 3) // 4) + elements if size else b""
        await self._original_send(parameters)
        self._started = True

    async def _run_rtp(self, codec: Any) -> None:
        sender: Any = self._sender
        sender._RTCRtpSender__rtp_started.set()
        try:
            while True:
                data, timestamp = await self._frames.next_frame()
                self._busy = True
                await self._send_frame(data, timestamp)
                self._busy = False
        except (asyncio.CancelledError, ConnectionError, MediaStreamError):
            pass
        except Exception:
            logger.exception("slot sender failed")  # aiortc's stop() waits for the event
        sender._RTCRtpSender__rtp_exited.set()

    def _payloads(self, data: bytes) -> list[bytes]:
        if not self._video:
            return [data]
        # VP8 payload descriptor with a 15-bit PictureID (RFC 7741 4.2), as aiortc sends.
        pid = self._picture_id
        self._picture_id = (pid + 1) & 0x7FFF
        first = bytes((0x90, 0x80, 0x80 | pid >> 8, pid & 0xFF))
        rest = bytes((0x80, 0x80, 0x80 | pid >> 8, pid & 0xFF))
        step = PACKET_MAX - 4
        return [
            (rest if pos else first) + data[pos : pos + step] for pos in range(0, len(data), step)
        ]

    def _extensions(self, ntp: int) -> bytes:
        if not self._ext_head:
            return b""
        if not self._abs_send_time:
            return self._ext_head + self._ext_pad
        # abs-send-time: 6.18 fixed-point seconds, the middle 24 bits of NTP time.
        return self._ext_head + ((ntp >> 14) & 0xFFFFFF).to_bytes(3, "big") + self._ext_pad

    def send_now(self, data: bytes, timestamp: int) -> bool:
        """Send a frame at once, from the caller's stack, if nothing is queued before it and
        the link takes datagrams without waiting; else False, and the caller queues it.

        Most frames go this way: no task wakes up per frame and no coroutine runs per packet.
        """
        if self._busy or not self._started:
            return False
        route = self._route()
        if route is None:
            return False
        for packet in self._packets(data, timestamp):
            route(packet)
        return True

    async def _send_frame(self, data: bytes, timestamp: int) -> None:
        route = self._route()
        transport = self._sender.transport
        for packet in self._packets(data, timestamp):
            if route is not None:
                route(packet)
            else:
                await transport._send_rtp(packet)

    def _route(self) -> Callable[[bytes], None] | None:
        """A synchronous send for SRTP packets: aiortc's `RTCDtlsTransport._send_rtp` down to
        aioice's `StunProtocol.send_data`, without their five coroutine frames. None when the
        link is not up, goes through TURN (its protocol frames data), or the socket is
        congested: then the slot's bounded queue takes over (STYLE 3)."""
        dtls = self._sender.transport
        pair = dtls.transport._connection._nominated.get(1)
        if dtls._state != DtlsState.CONNECTED or pair is None:
            return None
        if pair is not self._route_pair:  # the first frame, or an ICE restart
            self._route_pair, self._route_send, self._route_udp = pair, None, None
            udp = getattr(pair.protocol, "transport", None)
            if type(pair.protocol) is StunProtocol and udp is not None:
                self._route_udp, self._route_send = udp, self._make_send(dtls, udp, pair)
        udp = self._route_udp
        if udp is None or udp.is_closing() or udp.get_write_buffer_size():
            return None
        return self._route_send

    @staticmethod
    def _make_send(dtls: Any, udp: Any, pair: Any) -> Callable[[bytes], None]:
        protect, sendto, addr = dtls._tx_srtp.protect, udp.sendto, pair.remote_addr

        def send(packet: bytes) -> None:
            data = protect(packet)
            sendto(data, addr)
            dtls._RTCDtlsTransport__tx_bytes += len(data)  # aiortc's transport statistics
            dtls._RTCDtlsTransport__tx_packets += 1

        return send

    def _packets(self, data: bytes, timestamp: int) -> list[bytes]:
        """The frame's RTP packets, kept for NACKs and counted for sender reports."""
        timestamp = (self._ts_origin + timestamp) & 0xFFFFFFFF
        ntp = int((time.time() + NTP_EPOCH_OFFSET) * NTP_FRACTION)
        ext = self._extensions(ntp)
        first = 0x90 if ext else 0x80  # RTP version 2, X when there are extensions
        payloads = self._payloads(data)
        ssrc, last, out = self._sender._ssrc, len(payloads) - 1, []
        for i, payload in enumerate(payloads):
            seq = self._seq
            marker = i == last
            self._history[seq % HISTORY_SIZE] = (seq, timestamp, marker, payload)
            self._seq = (seq + 1) & 0xFFFF
            out.append(
                HEADER.pack(first, marker << 7 | self._pt, seq, timestamp, ssrc) + ext + payload
            )
        sender: Any = self._sender  # what aiortc's sender reports (RTCP SR) and getStats read
        sender._RTCRtpSender__ntp_timestamp = ntp
        sender._RTCRtpSender__rtp_timestamp = timestamp
        sender._RTCRtpSender__packet_count += len(payloads)
        sender._RTCRtpSender__octet_count += sum(len(p) for p in payloads)
        return out

    async def _retransmit(self, seq: int) -> None:
        entry = self._history.get(seq % HISTORY_SIZE)
        if entry is None or entry[0] != seq:
            return  # never sent, or too old
        _, timestamp, marker, payload = entry
        ext = self._extensions(int((time.time() + NTP_EPOCH_OFFSET) * NTP_FRACTION))
        first = 0x90 if ext else 0x80
        if self._rtx_pt is None:
            header = HEADER.pack(first, marker << 7 | self._pt, seq, timestamp, self._sender._ssrc)
        else:  # RFC 4588 4: the original sequence number leads the payload
            rtx_pt, rtx_ssrc = marker << 7 | self._rtx_pt, self._sender._rtx_ssrc
            header = HEADER.pack(first, rtx_pt, self._rtx_seq, timestamp, rtx_ssrc)
            payload = seq.to_bytes(2, "big") + payload
            self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
        await self._sender.transport._send_rtp(header + ext + payload)

    async def _handle_rtcp_packet(self, packet: Any) -> None:
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            self._on_nack(len(packet.lost))
            for seq in packet.lost:
                await self._retransmit(seq)
            return  # aiortc's history is empty: it has nothing to add
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            self._on_keyframe()
        await self._original_rtcp(packet)


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
