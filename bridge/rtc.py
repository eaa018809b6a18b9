"""The seam between the bridge and aiortc: every use of an aiortc internal lives here.

aiortc routes RTP and RTCP from its DTLS transport to receivers and senders through two
small protocols (`RtpReceiver._handle_rtp_packet`, `_handle_rtcp_packet`, and the sender's
`_handle_rtcp_packet`; see aiortc `rtcdtlstransport.py`). The bridge plugs in there:

- `InboundTap` replaces a receiver's packet handler, so packets of a published track go
  to the forwarder instead of the jitter buffer and the decoder thread, which is stopped
  as soon as aiortc starts it. It keeps what a receiver owes its publisher: statistics and
  receiver reports, NACKs (RFC 4585), RTX unwrapping (RFC 4588), PLIs, and either
  transport-wide congestion control feedback (`bridge.twcc`, for a publisher that numbers
  its packets) or REMB (for one that does not).
- `FastReceive` takes SRTP media datagrams straight from the peer connection's UDP
  sockets to the taps (aioice's queue and the DTLS task stay for STUN, DTLS and RTCP).
- `SlotSender` replaces a sender's RTP loop: it takes a slot's encoded frames, writes
  their RTP packets itself and answers NACKs from its own history; a subscriber's PLI/FIR
  reaches the forwarder. aiortc keeps negotiation and statistics; sender reports are sent
  by the peer's RTCP task through `SlotSender.send_report`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import pylibsrtp
from aioice.ice import StunProtocol
from aiortc import RTCRtpSender, RTCRtpTransceiver
from aiortc.codecs import CODECS, HEADER_EXTENSIONS, is_rtx
from aiortc.codecs.vpx import PACKET_MAX
from aiortc.mediastreams import MediaStreamError
from aiortc.rate import RemoteBitrateEstimator
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import (
    RTCRtcpFeedback,
    RTCRtpCodecCapability,
    RTCRtpHeaderExtensionParameters,
    RTCRtpReceiveParameters,
    RTCRtpSendParameters,
)
from aiortc.rtcrtpsender import random_sequence_number
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpByePacket,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
)
from aiortc.utils import random32
from pylibsrtp._binding import ffi as srtp_ffi
from pylibsrtp._binding import lib as srtp_lib

from bridge.contracts import InboundMeasure, TrackKind
from bridge.forwarding import PublishedTrack
from bridge.rtp import MissingPackets, ReceiveStats, RemoteReports, RtpView, parse_rtp
from bridge.twcc import TRANSPORT_CC_URI, TransportFeedback

logger = logging.getLogger(__name__)

# The only codecs the bridge offers, so publishers and subscribers always agree.
FORWARDED_MIME_TYPES = {"audio": ("audio/opus",), "video": ("video/VP8", "video/rtx")}


MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
TRANSPORT_CC_ID = 5  # RFC 8285 id the bridge offers (aiortc uses 1-3, shared in the bundle)
NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900 (NTP) to 1970 (Unix), RFC 5905
NTP_FRACTION = 1 << 32
HEADER = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, sequence number, timestamp, SSRC
HISTORY_SIZE = 512  # packets kept for NACKs: about a second of the main picture


def offer_transport_cc() -> None:
    """Make aiortc offer transport-wide congestion control on audio and video: the header
    extension and the `transport-cc` RTCP feedback of the forwarded codecs.

    aiortc builds every offer from two module-level tables (`aiortc.codecs.CODECS` and
    `HEADER_EXTENSIONS`, read by `createOffer`), so this adds to them, once per process
    (idempotent). A browser then numbers its packets and runs its own congestion control
    on the bridge's feedback instead of following REMB; an aiortc peer that answers with
    the extension but does not number its packets keeps getting REMB.
    """
    for kind in ("audio", "video"):
        extensions = HEADER_EXTENSIONS[kind]
        if not any(e.uri == TRANSPORT_CC_URI for e in extensions):
            extensions.append(
                RTCRtpHeaderExtensionParameters(id=TRANSPORT_CC_ID, uri=TRANSPORT_CC_URI)
            )
        wanted = FORWARDED_MIME_TYPES[kind]
        for codec in CODECS[kind]:
            offered = any(f.type == "transport-cc" for f in codec.rtcpFeedback)
            if codec.mimeType in wanted and not is_rtx(codec) and not offered:
                codec.rtcpFeedback.append(RTCRtcpFeedback(type="transport-cc"))


def codec_preferences(kind: TrackKind) -> list[RTCRtpCodecCapability]:
    wanted = FORWARDED_MIME_TYPES[kind]
    capabilities = RTCRtpSender.getCapabilities(kind).codecs
    return [c for c in capabilities if c.mimeType in wanted]


def srtp_direct(session: pylibsrtp.Session, protect: bool) -> Callable[[bytes], bytes]:
    """`session.protect` (or `unprotect`) for RTP, without pylibsrtp's per-call overhead.

    pylibsrtp allocates a length cell, checks the type and goes through two Python calls
    for every packet; the bridge makes about three of these calls per forwarded packet.
    This binds libsrtp's function, the session's context and buffer and one length cell
    once. Same libsrtp call and same errors (`pylibsrtp.Error`, ValueError when too long).
    """
    context = session._srtp[0]
    cdata = session._cdata
    buffer = session._buffer
    length = srtp_ffi.new("int *")
    call = srtp_lib.srtp_protect if protect else srtp_lib.srtp_unprotect
    limit = len(cdata) - (pylibsrtp.SRTP_MAX_TRAILER_LEN if protect else 0)

    def process(packet: bytes) -> bytes:
        size = len(packet)
        if size > limit:
            raise ValueError("packet is too long")
        length[0] = size
        buffer[0:size] = packet
        error = call(context, cdata, length)
        if error:
            raise pylibsrtp.Error(f"libsrtp error {error}")
        result: bytes = buffer[0 : length[0]]
        return result

    process.session = session  # type: ignore[attr-defined]  # keeps the context alive
    return process


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


def _patch(obj: object, name: str, value: Callable[..., Any]) -> None:
    # A per-instance override of a method aiortc or aioice calls (see module doc).
    setattr(obj, name, value)


async def _no_rtcp_timer(
    started: asyncio.Event,
    exited: asyncio.Event,
    goodbye: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """What an aiortc sender's or receiver's `_run_rtcp` task becomes: it reports nothing
    (the peer's one RTCP task does, for all of them) and only waits for aiortc's `stop()`
    to cancel it, then says `goodbye` if given. `stop()` waits for both events."""
    started.set()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.Event().wait()
    if goodbye is not None:
        with contextlib.suppress(Exception):
            await goodbye()
    exited.set()


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
        self._rtcp_ssrc: int = transceiver.sender._ssrc
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
        self._original_receive = self._receiver.receive
        self._original_rtcp = self._receiver._handle_rtcp_packet
        _patch(self._receiver, "receive", self._receive)
        _patch(self._receiver, "_handle_rtp_packet", self._handle_rtp_packet)
        _patch(self._receiver, "_handle_rtcp_packet", self._handle_rtcp_packet)
        _patch(self._receiver, "_run_rtcp", self._run_rtcp)

    async def _run_rtcp(self) -> None:
        # aiortc's would wake every second to report on nothing (its statistics never see
        # a packet); the tap's receiver reports go out through `send_report`.
        receiver: Any = self._receiver
        await _no_rtcp_timer(
            receiver._RTCRtpReceiver__rtcp_started, receiver._RTCRtpReceiver__rtcp_exited
        )

    @property
    def receiver(self) -> Any:
        return self._receiver

    async def _receive(self, parameters: RTCRtpReceiveParameters) -> None:
        await self._original_receive(parameters)
        # aiortc has just started a decoder thread: stop it, nothing will reach it.
        self._receiver._handle_disconnect()
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
            await self._receiver._send_rtcp_pli(ssrc)
        if self._nack_due and self._missing is not None and ssrc is not None:
            self._nack_due = False
            if self._missing.missing:
                self.nacks_sent += 1
                await self._receiver._send_rtcp_nack(ssrc, sorted(self._missing.missing))
        if self._remb_due is not None:
            fci = pack_remb_fci(*self._remb_due)
            self._remb_due = None
            feedback = RtcpPsfbPacket(
                fmt=RTCP_PSFB_APP, ssrc=self._rtcp_ssrc, media_ssrc=0, fci=fci
            )
            await self._receiver._send_rtcp(feedback)

    async def send_transport_feedback(self, feedback: TransportFeedback) -> None:
        """The connection's transport-wide feedback, sent on this tap's receiver (any
        receiver of the connection would do: the feedback is about the transport)."""
        for packet in feedback.build(self._rtcp_ssrc, self.media_ssrc or 0):
            await self._receiver._send_rtcp(packet)  # type: ignore[arg-type]  # bytes() of bytes

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
        await self._receiver._send_rtcp(RtcpRrPacket(ssrc=self._rtcp_ssrc, reports=[info]))

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
        for protocol in dtls.transport._connection._protocols:
            if type(protocol) is StunProtocol and protocol not in self._hooked:
                self._hooked[protocol] = protocol.datagram_received
                # A per-instance override: asyncio's and uvloop's transports look the
                # method up on the protocol for every datagram.
                _patch(protocol, "datagram_received", self._hook(dtls, protocol.datagram_received))

    def uninstall(self) -> None:
        for protocol in self._hooked:
            with contextlib.suppress(AttributeError):
                delattr(protocol, "datagram_received")  # the class's method again
        self._hooked.clear()
        self._by_ssrc.clear()

    def _hook(self, dtls: Any, original: Callable[[bytes, Any], None]) -> Any:
        receive = self._receive

        def datagram_received(data: bytes, addr: Any) -> None:
            if len(data) > 12 and 127 < data[0] < 192 and not 191 < data[1] < 224:
                srtp = dtls._rx_srtp
                if srtp is not None:
                    receive(dtls, self._unprotect(srtp), data)
                    return
            original(data, addr)

        return datagram_received

    def _unprotect(self, session: pylibsrtp.Session) -> Callable[[bytes], bytes]:
        if self._unprotect_session is not session:
            self._unprotect_session = session
            self._unprotect_call = srtp_direct(session, False)
        return self._unprotect_call

    def _receive(self, dtls: Any, unprotect: Callable[[bytes], bytes], data: bytes) -> None:
        # An exception escaping a protocol callback would close the socket: a bug here
        # must cost one packet, never the participant's connection.
        try:
            dtls._RTCDtlsTransport__rx_bytes += len(data)  # aiortc's transport statistics
            dtls._RTCDtlsTransport__rx_packets += 1
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
            packet = RtpPacket.parse(plain, dtls._rtp_header_extensions_map)
        except ValueError:
            return None
        tap = self._taps.get(dtls._rtp_router.route_rtp(packet))
        if tap is not None:
            if len(self._by_ssrc) >= self.MAX_SSRCS:
                self._by_ssrc.clear()
            self._by_ssrc[ssrc] = tap
        return tap


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
        self._ssrc: int = sender._ssrc
        # What sender reports say; the counts are given to aiortc's sender too.
        self._count = 0
        self._octets = 0
        self._reported_packets = 0  # the count in the last sender report
        self._last_ntp = 0
        self._last_timestamp = 0
        self._route_dtls: Any = None
        self._nominated: dict[int, Any] = {}
        self._route_pair: Any = None  # the ICE pair `_route_send` was made for
        self._route_udp: Any = None
        self._route_send: Callable[[bytes], None] | None = None
        self._started = False
        self._busy = False  # the RTP task is sending a queued frame: nothing may overtake it
        # What the subscriber's receiver reports say of this slot (loss, jitter, RTT).
        self.remote = RemoteReports()
        self._original_send = sender.send
        self._original_rtcp = sender._handle_rtcp_packet
        _patch(sender, "send", self._send)
        _patch(sender, "_run_rtp", self._run_rtp)
        _patch(sender, "_run_rtcp", self._run_rtcp)
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

    async def _run_rtcp(self) -> None:
        # Sender reports go out through `send_report`; a BYE (RFC 3550 6.6) at the end.
        sender: Any = self._sender

        async def bye() -> None:
            await sender._send_rtcp([RtcpByePacket(sources=[self._ssrc])])

        await _no_rtcp_timer(
            sender._RTCRtpSender__rtcp_started, sender._RTCRtpSender__rtcp_exited, bye
        )

    async def send_report(self) -> None:
        """A sender report (RFC 3550 6.4.1) with the CNAME (6.5.1), as aiortc's RTCP task
        would send, if the slot has sent media since its last one: a slot with nothing to
        send is no sender (6.4), and most slots of a large session are idle."""
        sender: Any = self._sender
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
        sender._RTCRtpSender__lsr = (ntp >> 16) & 0xFFFFFFFF
        sender._RTCRtpSender__lsr_time = now
        self.remote.sender_report(ntp, now)  # ours keeps the last few: RTT even when late
        cname = sender._RTCRtpSender__cname
        if cname is not None:
            item = RtcpSourceInfo(ssrc=self._ssrc, items=[(1, cname.encode())])
            packets.append(RtcpSdesPacket(chunks=[item]))
        await sender._send_rtcp(packets)

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
                await transport._send_rtp(packet)

    def _route(self) -> Callable[[bytes], None] | None:
        """A synchronous send for SRTP packets: aiortc's `RTCDtlsTransport._send_rtp` down to
        aioice's `StunProtocol.send_data`, without their five coroutine frames. None when the
        link is not up, goes through TURN (its protocol frames data), or the socket is
        congested: then the slot's bounded queue takes over (STYLE 3)."""
        dtls = self._sender.transport
        if dtls is not self._route_dtls:
            self._route_dtls, self._route_pair = dtls, None
            self._nominated = dtls.transport._connection._nominated
        pair = self._nominated.get(1)
        if pair is None or dtls._state is not DtlsState.CONNECTED:
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
        protect, sendto, addr = srtp_direct(dtls._tx_srtp, True), udp.sendto, pair.remote_addr

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
        sender: Any = self._sender  # what aiortc's getStats reads
        sender._RTCRtpSender__packet_count = self._count
        sender._RTCRtpSender__octet_count = self._octets
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
            rtx_pt, rtx_ssrc = marker << 7 | self._rtx_pt, self._sender._rtx_ssrc
            header = HEADER.pack(first, rtx_pt, self._rtx_seq, timestamp, rtx_ssrc)
            payload = seq.to_bytes(2, "big") + payload
            self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
        await self._sender.transport._send_rtp(header + ext + payload)

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
