"""Every private of aiortc, aioice and pylibsrtp that the bridge uses, and nothing else.

The bridge's receive and send paths (`receive.py`, `send.py`) take over parts of aiortc's
RTP machinery (see `bridge.rtc`); to do so they read, call or replace attributes that
aiortc, aioice and pylibsrtp do not promise to keep. Every such use goes through a function
here, and every such name is listed in `CLASS_PRIVATES` or `LIVE_PRIVATES`, which
`missing_class_privates` and `missing_live_privates` check, with a message naming the
private and what needs it. The three libraries are pinned to exact versions in
pyproject.toml; `tests/bridge/test_aiortc_contract.py` runs these checks, and `require`
runs the class checks when the first peer connection is made, so a changed library is a
clear error at start-up instead of an AttributeError deep in the forwarding path.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pylibsrtp
from aioice.ice import StunProtocol
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.codecs import CODECS, HEADER_EXTENSIONS, is_rtx
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcpeerconnection import RTCPeerConnection
from aiortc.rtcrtpparameters import RTCRtcpFeedback, RTCRtpHeaderExtensionParameters
from aiortc.rtp import RtpPacket
from pylibsrtp._binding import ffi as srtp_ffi
from pylibsrtp._binding import lib as srtp_lib

from bridge.twcc import TRANSPORT_CC_URI

TRANSPORT_CC_ID = 5  # RFC 8285 id the bridge offers (aiortc uses 1-3, shared in the bundle)


@dataclass(frozen=True, slots=True)
class Private:
    """One private name the bridge relies on: on what, and what needs it."""

    owner: str  # a class, or a live object's role ("DTLS transport", "SRTP session")
    name: str
    why: str
    coroutine: bool = False  # a method that must stay `async`


# Names looked up on the classes: methods the bridge replaces per instance or calls.
CLASS_PRIVATES: tuple[tuple[object, Private], ...] = (
    (RTCRtpReceiver, Private("RTCRtpReceiver", "_handle_rtp_packet", "InboundTap replaces it")),
    (
        RTCRtpReceiver,
        Private("RTCRtpReceiver", "_handle_rtcp_packet", "InboundTap wraps it", True),
    ),
    (RTCRtpReceiver, Private("RTCRtpReceiver", "_run_rtcp", "InboundTap replaces it", True)),
    (RTCRtpReceiver, Private("RTCRtpReceiver", "_handle_disconnect", "stops the decoder")),
    (RTCRtpSender, Private("RTCRtpSender", "_run_rtp", "SlotSender replaces it", True)),
    (RTCRtpSender, Private("RTCRtpSender", "_run_rtcp", "SlotSender replaces it", True)),
    (RTCRtpSender, Private("RTCRtpSender", "_handle_rtcp_packet", "SlotSender wraps it", True)),
    (RTCDtlsTransport, Private("RTCDtlsTransport", "_send_rtp", "queued frames, RTCP", True)),
    (StunProtocol, Private("StunProtocol", "datagram_received", "FastReceive hooks it")),
    (StunProtocol, Private("StunProtocol", "send_data", "what the direct send replaces")),
    (srtp_lib, Private("libsrtp", "srtp_protect", "srtp_direct binds it")),
    (srtp_lib, Private("libsrtp", "srtp_unprotect", "srtp_direct binds it")),
    (pylibsrtp, Private("pylibsrtp", "SRTP_MAX_TRAILER_LEN", "srtp_direct's buffer limit")),
)

# Names looked up on live objects of a connected peer connection (instance attributes,
# name-mangled ones included): `missing_live_privates` reads them off a connected pair.
LIVE_PRIVATES: dict[str, tuple[Private, ...]] = {
    "receiver": (
        Private("RTCRtpReceiver", "_RTCRtpReceiver__rtcp_started", "its RTCP task's flags"),
        Private("RTCRtpReceiver", "_RTCRtpReceiver__rtcp_exited", "its RTCP task's flags"),
    ),
    "sender": (
        Private("RTCRtpSender", "_ssrc", "the SSRC of slots and of the tap's RTCP"),
        Private("RTCRtpSender", "_rtx_ssrc", "retransmissions (RFC 4588)"),
        Private("RTCRtpSender", "_RTCRtpSender__rtp_started", "its RTP task's flags"),
        Private("RTCRtpSender", "_RTCRtpSender__rtp_exited", "its RTP task's flags"),
        Private("RTCRtpSender", "_RTCRtpSender__rtcp_started", "its RTCP task's flags"),
        Private("RTCRtpSender", "_RTCRtpSender__rtcp_exited", "its RTCP task's flags"),
        Private("RTCRtpSender", "_RTCRtpSender__lsr", "RTT from receiver reports"),
        Private("RTCRtpSender", "_RTCRtpSender__lsr_time", "RTT from receiver reports"),
        Private("RTCRtpSender", "_RTCRtpSender__cname", "the CNAME of sender reports"),
        Private("RTCRtpSender", "_RTCRtpSender__packet_count", "getStats' counters"),
        Private("RTCRtpSender", "_RTCRtpSender__octet_count", "getStats' counters"),
    ),
    "dtls": (
        Private("DTLS transport", "_rtp_router", "routes a new SSRC; RTX routes"),
        Private("DTLS transport", "_rtp_header_extensions_map", "reads a new SSRC's packet"),
        Private("DTLS transport", "_rx_srtp", "FastReceive unprotects with it"),
        Private("DTLS transport", "_tx_srtp", "the direct send protects with it"),
        Private("DTLS transport", "_state", "whether the direct send may run"),
        Private("DTLS transport", "_RTCDtlsTransport__rx_bytes", "aiortc's statistics"),
        Private("DTLS transport", "_RTCDtlsTransport__rx_packets", "aiortc's statistics"),
        Private("DTLS transport", "_RTCDtlsTransport__tx_bytes", "aiortc's statistics"),
        Private("DTLS transport", "_RTCDtlsTransport__tx_packets", "aiortc's statistics"),
    ),
    "ice": (Private("ICE transport", "_connection", "aioice's connection: sockets, pairs"),),
    "connection": (
        Private("aioice Connection", "_protocols", "the UDP sockets FastReceive hooks"),
        Private("aioice Connection", "_nominated", "the pair the direct send uses"),
    ),
    "router": (Private("RtpRouter", "ssrc_table", "RTX streams are routed by SSRC"),),
    "srtp": (
        Private("pylibsrtp Session", "_srtp", "srtp_direct binds its context"),
        Private("pylibsrtp Session", "_cdata", "srtp_direct uses its buffer"),
        Private("pylibsrtp Session", "_buffer", "srtp_direct uses its buffer"),
    ),
}


def _problem(owner: object, private: Private) -> str | None:
    if not hasattr(owner, private.name):
        return (
            f"{private.owner}.{private.name} is gone ({private.why}): aiortc, aioice or "
            "pylibsrtp differ from the pinned versions; read bridge/rtc/seam.py"
        )
    if private.coroutine and not asyncio.iscoroutinefunction(getattr(owner, private.name)):
        return f"{private.owner}.{private.name} is no longer async ({private.why})"
    return None


def missing_class_privates() -> list[str]:
    """What is gone or changed of the names looked up on classes (empty: all there)."""
    problems = [_problem(owner, p) for owner, p in CLASS_PRIVATES]
    for label, function, needle in (
        ("RTCPeerConnection.createOffer", RTCPeerConnection.createOffer, "HEADER_EXTENSIONS["),
        ("RTCPeerConnection.createOffer", RTCPeerConnection.createOffer, "CODECS["),
    ):
        with contextlib.suppress(OSError, TypeError):  # no source: nothing to read
            if needle not in inspect.getsource(function):
                problems.append(
                    f"{label} no longer uses {needle.rstrip('[')} (offer_transport_cc adds to "
                    "aiortc's tables)"
                )
    return [p for p in problems if p is not None]


def missing_live_privates(objects: dict[str, object]) -> list[str]:
    """What is gone of the instance attributes, read off live objects keyed as in
    `LIVE_PRIVATES` ("receiver", "sender", "dtls", "ice", "connection", "router",
    "srtp"); see `live_objects`."""
    problems = []
    for role, privates in LIVE_PRIVATES.items():
        owner = objects.get(role)
        if owner is None:
            problems.append(f"no live {role} to check")
            continue
        problems += [p for p in (_problem(owner, private) for private in privates) if p]
    return problems


def live_objects(receiver: Any, sender: Any) -> dict[str, object]:
    """The live objects `missing_live_privates` checks, from one connected transceiver's
    receiver and sender; a role whose path is broken is left out (and so reported)."""
    out: dict[str, object] = {"receiver": receiver, "sender": sender}
    dtls = getattr(receiver, "transport", None)
    if dtls is not None:
        out["dtls"] = dtls
        for role, path in (
            ("ice", ("transport",)),
            ("connection", ("transport", "_connection")),
            ("router", ("_rtp_router",)),
            ("srtp", ("_rx_srtp",)),
        ):
            value: Any = dtls
            for name in path:
                value = getattr(value, name, None)
            if value is not None:
                out[role] = value
    return out


_checked = False


def require() -> None:
    """Fail at once, with every problem named, if a class-level private is gone."""
    global _checked
    if _checked:
        return
    problems = missing_class_privates()
    if problems:
        raise RuntimeError("the bridge cannot run on these libraries: " + "; ".join(problems))
    _checked = True


# -- negotiation ------------------------------------------------------------------


def offer_transport_cc(forwarded: dict[str, tuple[str, ...]]) -> None:
    """Make aiortc offer transport-wide congestion control on audio and video: the header
    extension and the `transport-cc` RTCP feedback of the `forwarded` codecs.

    aiortc builds every offer from two module-level tables (`aiortc.codecs.CODECS` and
    `HEADER_EXTENSIONS`, read by `createOffer`), so this adds to them, once per process
    (idempotent).
    """
    for kind in ("audio", "video"):
        extensions = HEADER_EXTENSIONS[kind]
        if not any(e.uri == TRANSPORT_CC_URI for e in extensions):
            extensions.append(
                RTCRtpHeaderExtensionParameters(id=TRANSPORT_CC_ID, uri=TRANSPORT_CC_URI)
            )
        for codec in CODECS[kind]:
            offered = any(f.type == "transport-cc" for f in codec.rtcpFeedback)
            if codec.mimeType in forwarded[kind] and not is_rtx(codec) and not offered:
                codec.rtcpFeedback.append(RTCRtcpFeedback(type="transport-cc"))


# -- replacing aiortc's methods per instance ----------------------------------------


def replace(obj: object, name: str, value: Callable[..., Any]) -> Callable[..., Any]:
    """Override method `name` of this one object (aiortc, aioice and the event loops look
    it up on the instance each time); returns what it was."""
    original: Callable[..., Any] = getattr(obj, name)
    setattr(obj, name, value)
    return original


def override(obj: object, name: str, value: Callable[..., Any]) -> None:
    """Like `replace`, for a method whose original the bridge never calls."""
    setattr(obj, name, value)


def restore(obj: object, name: str) -> None:
    """Undo `replace`: the class's method again."""
    with contextlib.suppress(AttributeError):
        delattr(obj, name)


async def idle_rtcp_task(
    owner: RTCRtpReceiver | RTCRtpSender, goodbye: Callable[[], Awaitable[None]] | None = None
) -> None:
    """What a sender's or receiver's `_run_rtcp` task becomes: it reports nothing (the
    peer's one RTCP task does, for all of them) and only waits for aiortc's `stop()` to
    cancel it, then says `goodbye` if given. `stop()` waits for both of its events."""
    prefix = "_RTCRtpSender" if isinstance(owner, RTCRtpSender) else "_RTCRtpReceiver"
    started: asyncio.Event = getattr(owner, f"{prefix}__rtcp_started")
    exited: asyncio.Event = getattr(owner, f"{prefix}__rtcp_exited")
    started.set()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.Event().wait()
    if goodbye is not None:
        with contextlib.suppress(Exception):
            await goodbye()
    exited.set()


def rtp_task_events(sender: RTCRtpSender) -> tuple[asyncio.Event, asyncio.Event]:
    """The started/exited events aiortc's `stop()` waits on for the sender's RTP task."""
    s: Any = sender
    return s._RTCRtpSender__rtp_started, s._RTCRtpSender__rtp_exited


# -- receivers ----------------------------------------------------------------------


def local_ssrc(sender: RTCRtpSender) -> int:
    ssrc: int = sender._ssrc
    return ssrc


def rtx_ssrc(sender: RTCRtpSender) -> int:
    ssrc: int = sender._rtx_ssrc
    return ssrc


def stop_decoder(receiver: RTCRtpReceiver) -> None:
    """aiortc starts a decoder thread when a receiver starts: nothing will reach it."""
    receiver._handle_disconnect()


def route_by_ssrc(receiver: RTCRtpReceiver, ssrc: int) -> None:
    """Route a stream (an RTX one) to `receiver` by SSRC in its transport's router."""
    receiver.transport._rtp_router.ssrc_table[ssrc] = receiver


async def send_receiver_rtcp(receiver: RTCRtpReceiver, packet: Any) -> None:
    """An RTCP packet object, or its bytes, on the receiver's transport: at once when the
    link is a plain UDP pair (`send_rtcp_now`), else through aiortc."""
    await _send_rtcp(receiver.transport, bytes(packet))


async def _send_rtcp(dtls: RTCDtlsTransport, data: bytes) -> None:
    if not send_rtcp_now(dtls, data):
        with contextlib.suppress(ConnectionError):  # as aiortc's: a closed link drops it
            await dtls._send_rtp(data)


# -- the DTLS transport and the sockets under it -------------------------------------


def udp_protocols(dtls: RTCDtlsTransport) -> list[StunProtocol]:
    """The UDP sockets' protocols of the ICE connection under `dtls` (not TURN's)."""
    protocols: Iterable[Any] = dtls.transport._connection._protocols
    return [p for p in protocols if type(p) is StunProtocol]


def rx_srtp(dtls: RTCDtlsTransport) -> pylibsrtp.Session | None:
    session: pylibsrtp.Session | None = dtls._rx_srtp
    return session


def count_received(dtls: RTCDtlsTransport, size: int) -> None:
    """Count a datagram in aiortc's transport statistics (FastReceive bypasses them)."""
    d: Any = dtls
    d._RTCDtlsTransport__rx_bytes += size
    d._RTCDtlsTransport__rx_packets += 1


def route_new_ssrc(dtls: RTCDtlsTransport, plain: bytes) -> object | None:
    """The receiver aiortc's router gives a decrypted packet of a new SSRC (by MID or
    payload type, learning the SSRC), or None; raises ValueError if it does not parse."""
    packet = RtpPacket.parse(plain, dtls._rtp_header_extensions_map)
    receiver: object | None = dtls._rtp_router.route_rtp(packet)
    return receiver


def plain_udp_pair(dtls: RTCDtlsTransport) -> tuple[Any, Any] | None:
    """aioice's nominated candidate pair and its UDP transport, when packets may go out on
    it synchronously: DTLS is connected, the pair is a plain UDP socket (not TURN, whose
    protocol frames data) and the socket takes datagrams without waiting. Else None."""
    pair = dtls.transport._connection._nominated.get(1)
    if pair is None or dtls._state is not DtlsState.CONNECTED:
        return None
    protocol = pair.protocol
    udp = getattr(protocol, "transport", None)
    if type(protocol) is not StunProtocol or udp is None:
        return None
    if udp.is_closing() or udp.get_write_buffer_size():
        return None
    return pair, udp


def dtls_connected(dtls: RTCDtlsTransport) -> bool:
    return bool(dtls._state is DtlsState.CONNECTED)


async def send_rtp(dtls: RTCDtlsTransport, data: bytes) -> None:
    """aiortc's own way out: SRTP (or SRTCP) protect and send, awaiting the transport."""
    await dtls._send_rtp(data)


def send_rtcp_now(dtls: RTCDtlsTransport, data: bytes) -> bool:
    """Send (compound) RTCP synchronously: SRTCP protect and `sendto` on the nominated
    UDP pair, counted in aiortc's statistics. False, and nothing sent, when the link is
    not up, goes through TURN or the socket is congested: the caller then takes aiortc's
    path (five coroutine frames per packet, which the feedback paid before)."""
    found = plain_udp_pair(dtls)
    if found is None:
        return False
    pair, udp = found
    protected = dtls._tx_srtp.protect_rtcp(data)
    udp.sendto(protected, pair.remote_addr)
    d: Any = dtls
    d._RTCDtlsTransport__tx_bytes += len(protected)
    d._RTCDtlsTransport__tx_packets += 1
    return True


def direct_send(dtls: RTCDtlsTransport, udp: Any, addr: Any) -> Callable[[bytes], None]:
    """A synchronous send of RTP packets on one UDP pair: SRTP protect with the
    transport's session and `sendto`, counted in aiortc's statistics."""
    protect, sendto = srtp_direct(dtls._tx_srtp, True), udp.sendto
    d: Any = dtls

    def send(packet: bytes) -> None:
        data = protect(packet)
        sendto(data, addr)
        d._RTCDtlsTransport__tx_bytes += len(data)
        d._RTCDtlsTransport__tx_packets += 1

    return send


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


# -- senders ------------------------------------------------------------------------


async def send_sender_rtcp(sender: RTCRtpSender, packets: list[Any]) -> None:
    """One compound RTCP packet on the sender's transport, at once where it can go so."""
    await _send_rtcp(sender.transport, b"".join(bytes(p) for p in packets))


def note_sender_report(sender: RTCRtpSender, lsr: int, at: float) -> None:
    """What aiortc compares a receiver report's LSR/DLSR with, for its round-trip time."""
    s: Any = sender
    s._RTCRtpSender__lsr = lsr
    s._RTCRtpSender__lsr_time = at


def cname(sender: RTCRtpSender) -> str | None:
    value: str | None = getattr(sender, "_RTCRtpSender__cname")  # noqa: B009
    return value


def set_sent_counts(sender: RTCRtpSender, packets: int, octets: int) -> None:
    """The counters aiortc's `getStats` reads (the slot sender sends around them)."""
    s: Any = sender
    s._RTCRtpSender__packet_count = packets
    s._RTCRtpSender__octet_count = octets
