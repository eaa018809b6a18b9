"""The send path: a slot's encoded frames written as RTP on one aiortc sender.

`SlotSender` replaces a sender's RTP loop: it takes a slot's encoded frames, writes their
RTP packets itself and answers NACKs from its own history; a subscriber's PLI/FIR reaches
the forwarder. aiortc keeps negotiation and statistics; sender reports are sent by the
peer's RTCP task through `SlotSender.send_report`.

Every private of aiortc and aioice used here goes through `bridge.rtc.seam`.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import Callable
from typing import Any, Protocol

from aiortc import RTCRtpSender
from aiortc.codecs import is_rtx
from aiortc.codecs.vpx import PACKET_MAX
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtcrtpsender import random_sequence_number
from aiortc.rtp import (
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpByePacket,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
)
from aiortc.utils import random32

from bridge.rtc import seam
from bridge.rtc.codecs import ABS_SEND_TIME_URI, MID_URI
from bridge.rtp import RemoteReports

logger = logging.getLogger(__name__)

NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900 (NTP) to 1970 (Unix), RFC 5905
NTP_FRACTION = 1 << 32
HEADER = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, sequence number, timestamp, SSRC
HISTORY_SIZE = 512  # packets kept for NACKs: about a second of the main picture


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
        self._ssrc = seam.local_ssrc(sender)
        # What sender reports say; the counts are given to aiortc's sender too.
        self._count = 0
        self._octets = 0
        self._reported_packets = 0  # the count in the last sender report
        self._last_ntp = 0
        self._last_timestamp = 0
        self._route_dtls: Any = None
        self._route_pair: Any = None  # the ICE pair `_route_send` was made for
        self._route_send: Callable[[bytes], None] | None = None
        self._started = False
        self._busy = False  # the RTP task is sending a queued frame: nothing may overtake it
        # What the subscriber's receiver reports say of this slot (loss, jitter, RTT).
        self.remote = RemoteReports()
        self._original_send = seam.replace(sender, "send", self._send)
        self._original_rtcp = seam.replace(sender, "_handle_rtcp_packet", self._handle_rtcp_packet)
        seam.override(sender, "_run_rtp", self._run_rtp)
        seam.override(sender, "_run_rtcp", self._run_rtcp)

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
        started, exited = seam.rtp_task_events(self._sender)
        started.set()
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
        exited.set()

    async def _run_rtcp(self) -> None:
        # Sender reports go out through `send_report`; a BYE (RFC 3550 6.6) at the end.
        async def bye() -> None:
            await seam.send_sender_rtcp(self._sender, [RtcpByePacket(sources=[self._ssrc])])

        await seam.idle_rtcp_task(self._sender, bye)

    async def send_report(self) -> None:
        """A sender report (RFC 3550 6.4.1) with the CNAME (6.5.1), as aiortc's RTCP task
        would send, if the slot has sent media since its last one: a slot with nothing to
        send is no sender (6.4), and most slots of a large session are idle."""
        sender = self._sender
        count = self._count
        if not self._started or count == self._reported_packets:
            return
        self._reported_packets = count
        ntp = self._last_ntp
        packets: list[Any] = [
            RtcpSrPacket(
                ssrc=self._ssrc,
                sender_info=RtcpSenderInfo(
                    ntp_timestamp=ntp,
                    rtp_timestamp=self._last_timestamp,
                    packet_count=count & 0xFFFFFFFF,
                    octet_count=self._octets & 0xFFFFFFFF,
                ),
            )
        ]
        # What aiortc compares a receiver report's LSR/DLSR with, for the round-trip time.
        now = time.time()
        seam.note_sender_report(sender, (ntp >> 16) & 0xFFFFFFFF, now)
        self.remote.sender_report(ntp, now)  # ours keeps the last few: RTT even when late
        cname = seam.cname(sender)
        if cname is not None:
            item = RtcpSourceInfo(ssrc=self._ssrc, items=[(1, cname.encode())])
            packets.append(RtcpSdesPacket(chunks=[item]))
        await seam.send_sender_rtcp(sender, packets)

    def _vp8_payloads(self, data: bytes) -> list[bytes]:
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
                await seam.send_rtp(transport, packet)

    def _route(self) -> Callable[[bytes], None] | None:
        """A synchronous send for SRTP packets: aiortc's `RTCDtlsTransport._send_rtp` down to
        aioice's `StunProtocol.send_data`, without their five coroutine frames. None when the
        link is not up, goes through TURN (its protocol frames data), or the socket is
        congested: then the slot's bounded queue takes over (STYLE 3)."""
        dtls = self._sender.transport
        found = seam.plain_udp_pair(dtls)
        if found is None:
            return None
        pair, udp = found
        if pair is not self._route_pair or dtls is not self._route_dtls:  # first, ICE restart
            self._route_dtls, self._route_pair = dtls, pair
            self._route_send = seam.direct_send(dtls, udp, pair.remote_addr)
        return self._route_send

    def _packets(self, data: bytes, timestamp: int) -> list[bytes]:
        """The frame's RTP packets, kept for NACKs and counted for sender reports."""
        timestamp = (self._ts_origin + timestamp) & 0xFFFFFFFF
        ntp = int((time.time() + NTP_EPOCH_OFFSET) * NTP_FRACTION)
        ext = self._extensions(ntp)
        first = 0x90 if ext else 0x80  # RTP version 2, X when there are extensions
        ssrc, pt, history, seq = self._ssrc, self._pt, self._history, self._seq
        if self._video:
            payloads = self._vp8_payloads(data)
            last, out = len(payloads) - 1, []
            for i, payload in enumerate(payloads):
                marker = i == last
                history[seq % HISTORY_SIZE] = (seq, timestamp, marker, payload)
                out.append(
                    HEADER.pack(first, marker << 7 | pt, seq, timestamp, ssrc) + ext + payload
                )
                seq = (seq + 1) & 0xFFFF
            self._octets += len(data) + 4 * len(payloads)  # each with its VP8 descriptor
        else:  # an Opus frame is one packet (RFC 7587); most packets sent are these, and
            # the loop above costs them a fifth more (measured)
            history[seq % HISTORY_SIZE] = (seq, timestamp, True, data)
            out = [HEADER.pack(first, 0x80 | pt, seq, timestamp, ssrc) + ext + data]
            seq = (seq + 1) & 0xFFFF
            self._octets += len(data)
        self._count += len(out)
        self._seq = seq
        self._last_ntp, self._last_timestamp = ntp, timestamp
        seam.set_sent_counts(self._sender, self._count, self._octets)  # for getStats
        return out

    async def _retransmit(self, seq: int) -> None:
        entry = self._history.get(seq % HISTORY_SIZE)
        if entry is None or entry[0] != seq:
            return  # never sent, or too old
        _, timestamp, marker, payload = entry
        ext = self._extensions(int((time.time() + NTP_EPOCH_OFFSET) * NTP_FRACTION))
        first = 0x90 if ext else 0x80
        if self._rtx_pt is None:
            header = HEADER.pack(first, marker << 7 | self._pt, seq, timestamp, self._ssrc)
        else:  # RFC 4588 4: the original sequence number leads the payload
            rtx_pt, rtx_ssrc = marker << 7 | self._rtx_pt, seam.rtx_ssrc(self._sender)
            header = HEADER.pack(first, rtx_pt, self._rtx_seq, timestamp, rtx_ssrc)
            payload = seq.to_bytes(2, "big") + payload
            self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
        route = self._route() if self._route_send is not None else None  # a frame went so
        if route is not None:
            route(header + ext + payload)
        else:
            await seam.send_rtp(self._sender.transport, header + ext + payload)

    @property
    def packets_sent(self) -> int:
        return self._count

    def _note_reports(self, packet: RtcpRrPacket | RtcpSrPacket) -> None:
        # A browser that also sends media puts its report blocks in its sender reports.
        now = time.time()
        for block in packet.reports:
            if block.ssrc == self._ssrc:
                self.remote.add(
                    block.fraction_lost,
                    block.packets_lost,
                    block.jitter,
                    block.lsr,
                    block.dlsr,
                    self._count,
                    now,
                )

    async def _handle_rtcp_packet(self, packet: Any) -> None:
        if isinstance(packet, RtcpRrPacket | RtcpSrPacket):
            self._note_reports(packet)
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
