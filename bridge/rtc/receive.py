"""The receive path: what a published track's packets go through before the forwarder.

- `InboundTap` replaces a receiver's packet handler, so packets of a published track go
  to the forwarder instead of the jitter buffer and the decoder thread, which is stopped
  as soon as aiortc starts it. It keeps what a receiver owes its publisher: statistics and
  receiver reports, NACKs (RFC 4585), RTX unwrapping (RFC 4588), PLIs, and either
  transport-wide congestion control feedback (`bridge.twcc`, for a publisher that numbers
  its packets) or REMB (for one that does not).
- `FastReceive` takes SRTP media datagrams straight from the peer connection's UDP
  sockets to the taps (aioice's queue and the DTLS task stay for STUN, DTLS and RTCP).

Every private of aiortc and aioice used here goes through `bridge.rtc.seam`.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import pylibsrtp
from aioice.ice import StunProtocol
from aiortc import RTCRtpTransceiver
from aiortc.rate import RemoteBitrateEstimator
from aiortc.rtcrtpparameters import RTCRtpReceiveParameters
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
)

from bridge.contracts import InboundMeasure
from bridge.forwarding import PublishedTrack
from bridge.rtc import seam
from bridge.rtc.codecs import ABS_SEND_TIME_URI, AUDIO_LEVEL_URI
from bridge.rtp import MissingPackets, ReceiveStats, RtpView, parse_rtp
from bridge.twcc import TRANSPORT_CC_URI, TransportFeedback

logger = logging.getLogger(__name__)


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


class InboundTap:
    """Takes over the RTP path of one aiortc receiver and feeds a `PublishedTrack`.

    Packets come two ways: as bytes from `FastReceive` (the usual way: read with
    `rtp.parse_rtp`, no objects built) or as aiortc `RtpPacket`s from its transport (the
    first packets of a stream, before its SSRC is known, and media relayed through TURN).
    What must go back to the publisher (NACK, REMB, PLI) is noted here and sent by the
    peer's RTCP task, which `wake` wakes: the receive path never awaits.
    """

    def __init__(
        self,
        transceiver: RTCRtpTransceiver,
        track: PublishedTrack,
        remb: bool,
        wake: Callable[[], None],
        transport_feedback: TransportFeedback | None = None,
    ) -> None:
        self.track = track
        self._receiver = transceiver.receiver
        self._rtcp_ssrc = seam.local_ssrc(transceiver.sender)
        self._wake = wake
        self._video = track.info.kind == "video"
        self._clock_rate = track.info.clock_rate
        self._missing = MissingPackets() if self._video else None
        self._remb = RemoteBitrateEstimator() if remb and self._video else None
        if self._remb is not None:
            self._remb.incoming_bitrate = WindowRate()  # type: ignore[assignment]
        self._remb_bytes = 0  # of the frame under way, for its one REMB sample
        self._remb_due: tuple[int, list[int]] | None = None
        self._payload_types: set[int] = set()
        self._rtx_apt: dict[int, int] = {}
        self._rtx_ssrc: dict[int, int] = {}
        self._abs_send_time_id = 0  # RFC 8285 ids as negotiated; 0 never matches
        self._audio_level_id = 0
        self._transport_cc_id = 0
        self._transport_feedback = transport_feedback
        self.transport_cc = False  # the publisher numbers its packets: no REMB then
        self._stats: ReceiveStats | None = None
        self.media_ssrc: int | None = None
        self._lsr: tuple[int, float] | None = None
        self.pli_wanted = False
        self._nack_due = False
        self.nacks_sent = 0
        self.rtx_received = 0
        self.packets_direct = 0  # from `FastReceive`
        self.packets_via_aiortc = 0  # from aiortc's transport (TURN, or before the hook)
        receiver = self._receiver
        self._original_receive = seam.replace(receiver, "receive", self._receive)
        self._original_rtcp = seam.replace(
            receiver, "_handle_rtcp_packet", self._handle_rtcp_packet
        )
        seam.override(receiver, "_handle_rtp_packet", self._handle_rtp_packet)
        seam.override(receiver, "_run_rtcp", self._run_rtcp)

    async def _run_rtcp(self) -> None:
        # aiortc's would wake every second to report on nothing (its statistics never see
        # a packet); the tap's receiver reports go out through `send_report`.
        await seam.idle_rtcp_task(self._receiver)

    @property
    def receiver(self) -> Any:
        return self._receiver

    async def _receive(self, parameters: RTCRtpReceiveParameters) -> None:
        await self._original_receive(parameters)
        # aiortc has just started a decoder thread: stop it, nothing will reach it.
        seam.stop_decoder(self._receiver)
        for codec in parameters.codecs:
            if codec.payloadType is None:
                continue
            self._payload_types.add(codec.payloadType)
            if codec.mimeType.lower().endswith("/rtx"):
                self._rtx_apt[codec.payloadType] = int(str(codec.parameters["apt"]))
        for ext in parameters.headerExtensions:
            if ext.uri == ABS_SEND_TIME_URI:
                self._abs_send_time_id = ext.id
            elif ext.uri == AUDIO_LEVEL_URI:
                self._audio_level_id = ext.id
            elif ext.uri == TRANSPORT_CC_URI and self._transport_feedback is not None:
                self._transport_cc_id = ext.id
        for encoding in parameters.encodings:
            if encoding.rtx:
                self._rtx_ssrc[encoding.rtx.ssrc] = encoding.ssrc
                # aiortc routes by SSRC, else by payload type when one receiver has it; the
                # RTX payload type is shared by every video m-line of the bundle, so without
                # this a camera's retransmissions are dropped while the screen is shared.
                seam.route_by_ssrc(self._receiver, encoding.rtx.ssrc)

    async def _handle_rtcp_packet(self, packet: Any) -> None:
        if isinstance(packet, RtcpSrPacket):
            # Middle 32 bits of the NTP time, echoed as LSR (RFC 3550 6.4.1).
            self._lsr = ((packet.sender_info.ntp_timestamp >> 16) & 0xFFFFFFFF, time.time())
        await self._original_rtcp(packet)

    async def _handle_rtp_packet(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        self.packets_via_aiortc += 1
        level = packet.extensions.audio_level
        view = RtpView(
            packet.payload_type,
            bool(packet.marker),
            packet.sequence_number,
            packet.timestamp,
            packet.ssrc,
            packet.payload,
            packet.padding_size,
            packet.extensions.abs_send_time,
            None if level is None else level[1],
            packet.extensions.transport_sequence_number if self._transport_cc_id else None,
        )
        self.on_packet(view, time.time())

    def on_datagram(self, data: bytes, arrival: float) -> None:
        """One decrypted RTP packet, as bytes, from `FastReceive`."""
        self.packets_direct += 1
        try:
            view = parse_rtp(
                data, self._abs_send_time_id, self._audio_level_id, self._transport_cc_id
            )
        except ValueError as exc:
            self.track.malformed += 1
            logger.debug("%s: dropped RTP packet: %s", self.track.info.track_id, exc)
            return
        self.on_packet(view, arrival)

    def on_packet(self, packet: RtpView, arrival: float) -> None:
        """One RTP packet of this track (or its RTX stream), arrived at `arrival` (UNIX s)."""
        number = packet.transport_seq
        if number is not None:
            # Every numbered packet counts for the sender's estimate, probes and
            # retransmissions included, so it is recorded before anything is filtered.
            feedback = self._transport_feedback
            if feedback is not None:
                feedback.add(number, int(arrival * 1_000_000))
                if not self.transport_cc:
                    self.transport_cc = True
                    self._remb = None  # a REMB would cap the browser's own estimate
                    self._remb_due = None
        pt = packet.payload_type
        if pt not in self._payload_types:
            return
        remb = self._remb
        if remb is not None and packet.abs_send_time is not None and self.track.watched:
            # The estimator groups packets sent within 5 ms and uses each group's last
            # packet and total size (aiortc `InterArrival`, after libwebrtc): a frame is
            # such a burst, so one sample per frame gives it nearly the same input. Only
            # while someone receives the track: the estimate is for the media forwarded,
            # and an unwatched publisher keeps its last cap and its own loss-based control.
            self._remb_bytes += len(packet.payload) + packet.padding_size
            if packet.marker:
                self._feed_remb(remb, packet.ssrc, packet.abs_send_time, arrival)
        seq, payload = packet.sequence_number, packet.payload
        apt = self._rtx_apt.get(pt)
        if apt is not None:  # RFC 4588 4: the original sequence number leads the payload
            if len(payload) < 2 or self._rtx_ssrc.get(packet.ssrc, self.media_ssrc) is None:
                return  # RTX padding probe, or nothing to repair yet
            self.rtx_received += 1
            seq, payload = (payload[0] << 8) | payload[1], payload[2:]
        else:
            stats = self._stats
            if self.media_ssrc != packet.ssrc or stats is None:
                self.media_ssrc = packet.ssrc
                stats = self._stats = ReceiveStats(self._clock_rate)
            stats.add(seq, packet.timestamp, arrival)
        missing = self._missing
        if missing is not None and missing.add(seq):
            self._nack_due = True
            self._wake()
        if not payload:
            return  # padding only
        self.track.on_rtp(
            seq, packet.timestamp, packet.marker, payload, arrival, packet.audio_level
        )

    def _feed_remb(
        self, remb: RemoteBitrateEstimator, ssrc: int, send_time: int, arrival: float
    ) -> None:
        size, self._remb_bytes = self._remb_bytes, 0
        estimate = remb.add(
            abs_send_time=send_time,
            arrival_time_ms=int(arrival * 1000),
            payload_size=size,
            ssrc=ssrc,
        )
        if estimate is not None:
            self._remb_due = estimate
            self._wake()

    # -- RTCP towards the publisher, sent by the peer's RTCP task ------------------

    async def send_feedback(self) -> None:
        """Whatever the receive path noted: a PLI, a NACK of the missing packets, a REMB."""
        ssrc = self.media_ssrc
        if self.pli_wanted and ssrc is not None:
            self.pli_wanted = False
            pli = RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=self._rtcp_ssrc, media_ssrc=ssrc)
            await seam.send_receiver_rtcp(self._receiver, pli)
        if self._nack_due and self._missing is not None and ssrc is not None:
            self._nack_due = False
            if self._missing.missing:
                self.nacks_sent += 1
                nack = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=self._rtcp_ssrc, media_ssrc=ssrc)
                nack.lost = sorted(self._missing.missing)
                await seam.send_receiver_rtcp(self._receiver, nack)
        if self._remb_due is not None:
            fci = pack_remb_fci(*self._remb_due)
            self._remb_due = None
            feedback = RtcpPsfbPacket(
                fmt=RTCP_PSFB_APP, ssrc=self._rtcp_ssrc, media_ssrc=0, fci=fci
            )
            await seam.send_receiver_rtcp(self._receiver, feedback)

    async def send_transport_feedback(self, feedback: TransportFeedback) -> None:
        """The connection's transport-wide feedback, sent on this tap's receiver (any
        receiver of the connection would do: the feedback is about the transport)."""
        for packet in feedback.build(self._rtcp_ssrc, self.media_ssrc or 0):
            await seam.send_receiver_rtcp(self._receiver, packet)

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
            fraction_lost=stats.take_fraction_lost(),
            packets_lost=stats.packets_lost,
            highest_sequence=stats.highest_sequence,
            jitter=stats.jitter,
            lsr=lsr,
            dlsr=dlsr,
        )
        report = RtcpRrPacket(ssrc=self._rtcp_ssrc, reports=[info])
        await seam.send_receiver_rtcp(self._receiver, report)

    def figures(self) -> dict[str, float | int]:
        stats = self._stats
        return {
            "packets_received": stats.packets_received if stats else 0,
            "packets_lost": stats.packets_lost if stats else 0,
            "jitter_ms": round(stats.jitter * 1000 / self._clock_rate, 2) if stats else 0.0,
            "nacks_sent": self.nacks_sent,
            "rtx_received": self.rtx_received,
            "packets_direct": self.packets_direct,
            "packets_via_aiortc": self.packets_via_aiortc,
            "transport_cc": int(self.transport_cc),
        }

    def measure(self) -> InboundMeasure:
        """The track's figures as the bridge measured them (a readiness check's basis)."""
        stats, track = self._stats, self.track
        rate, info = track.rate, track.info
        heard = track.levels_seen > 0
        now = time.time()  # means up to now: a stream that stopped reads lower for it
        return InboundMeasure(
            source=info.source,
            kind=info.kind,
            packets_received=stats.packets_received if stats else 0,
            packets_lost=max(0, stats.packets_lost) if stats else 0,
            jitter_ms=round(stats.jitter * 1000 / self._clock_rate, 2) if stats else 0.0,
            frames=track.frames,
            keyframes=track.keyframes,
            seconds=round(rate.seconds, 3),
            bitrate_kbps=round(rate.mean_bitrate(now) / 1000, 1),
            frame_rate=round(rate.mean_frame_rate(now), 1),
            muted=track.muted,
            width=track.width,
            height=track.height,
            loudest_dbov=-float(track.loudest_level) if heard else None,
        )


class FastReceive:
    """Takes the SRTP media datagrams of one peer connection straight from its UDP sockets.

    aioice hands every datagram to an `asyncio.Queue` after trying to parse it as STUN
    (a raised exception for each media packet), the DTLS transport's task wakes up for
    it, unprotects it and builds an `RtpPacket`. Here the socket's protocol gives SRTP
    packets (RFC 7983: first byte 128-191, and not RTCP) to a hook instead, which
    unprotects them with the transport's own SRTP session and hands the bytes to the
    `InboundTap` of their SSRC, at once. STUN, DTLS and RTCP keep aiortc's path, and so
    do media packets whose SSRC is not known yet: aiortc's router learns it (by MID or
    payload type) and the answer is kept. TURN-relayed media never comes here.
    """

    MAX_SSRCS = 64  # more than a participant sends; past it, something is odd: start over

    def __init__(self, taps: list[InboundTap]) -> None:
        self._taps = {tap.receiver: tap for tap in taps}
        self._by_ssrc: dict[int, InboundTap] = {}
        self._hooked: dict[StunProtocol, Callable[[bytes, Any], None]] = {}
        self._unprotect_session: pylibsrtp.Session | None = None
        self._unprotect_call: Callable[[bytes], bytes] = bytes

    def install(self) -> None:
        """Hook every UDP socket of the connection (again after an ICE change: idempotent)."""
        if not self._taps:
            return
        dtls = next(iter(self._taps)).transport
        if dtls is None:
            return
        for protocol in seam.udp_protocols(dtls):
            if protocol not in self._hooked:
                original = protocol.datagram_received
                self._hooked[protocol] = original
                seam.replace(protocol, "datagram_received", self._hook(dtls, original))

    def uninstall(self) -> None:
        for protocol in self._hooked:
            seam.restore(protocol, "datagram_received")
        self._hooked.clear()
        self._by_ssrc.clear()

    def _hook(self, dtls: Any, original: Callable[[bytes, Any], None]) -> Any:
        receive, rx_srtp = self._receive, seam.rx_srtp

        def datagram_received(data: bytes, addr: Any) -> None:
            if len(data) > 12 and 127 < data[0] < 192 and not 191 < data[1] < 224:
                srtp = rx_srtp(dtls)
                if srtp is not None:
                    receive(dtls, self._unprotect(srtp), data)
                    return
            original(data, addr)

        return datagram_received

    def _unprotect(self, session: pylibsrtp.Session) -> Callable[[bytes], bytes]:
        if self._unprotect_session is not session:
            self._unprotect_session = session
            self._unprotect_call = seam.srtp_direct(session, False)
        return self._unprotect_call

    def _receive(self, dtls: Any, unprotect: Callable[[bytes], bytes], data: bytes) -> None:
        # An exception escaping a protocol callback would close the socket: a bug here
        # must cost one packet, never the participant's connection.
        try:
            seam.count_received(dtls, len(data))
            arrival = time.time()
            try:
                plain = unprotect(data)
            except pylibsrtp.Error:
                return  # replayed, forged or for an old session: SRTP says no
            ssrc = int.from_bytes(plain[8:12], "big")
            tap = self._by_ssrc.get(ssrc)
            if tap is None:
                tap = self._learn(dtls, plain, ssrc)
                if tap is None:
                    return
            tap.on_datagram(plain, arrival)
        except Exception:
            logger.exception("dropped an RTP packet on the fast receive path")

    def _learn(self, dtls: Any, plain: bytes, ssrc: int) -> InboundTap | None:
        """Which tap a new SSRC belongs to, as aiortc's router decides it."""
        try:
            receiver = seam.route_new_ssrc(dtls, plain)
        except ValueError:
            return None
        tap = self._taps.get(receiver)
        if tap is not None:
            if len(self._by_ssrc) >= self.MAX_SSRCS:
                self._by_ssrc.clear()
            self._by_ssrc[ssrc] = tap
        return tap
