"""The contract between the bridge and the private parts of aiortc, aioice and pylibsrtp.

`bridge/rtc.py` is the one module that reaches into them. Their versions are pinned exactly
in pyproject.toml; this test says, with a message naming what to look at, when an installed
version differs from the pin or when a private the bridge uses is gone or changed — before a
forwarding test fails somewhere deep with an AttributeError."""

from __future__ import annotations

import inspect
import re
from importlib import metadata
from pathlib import Path
from typing import Any

import pylibsrtp
import pytest
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.rtcdtlstransport import State as DtlsState

from bridge.config import BridgeConfig
from tests.bridge.bridgekit import wait_until
from tests.bridge.test_bridge_peer import connect

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
PINNED = ("aiortc", "aioice", "pylibsrtp")


def _pins() -> dict[str, str]:
    text = PYPROJECT.read_text(encoding="utf-8")
    return {m[1]: m[2] for m in re.finditer(r'"([a-z0-9-]+)==([0-9][^"]*)"', text)}


@pytest.mark.parametrize("name", PINNED)
def test_the_hot_paths_dependencies_are_pinned_and_installed_as_pinned(name: str) -> None:
    pins = _pins()
    assert name in pins, (
        f"{name} must be pinned exactly in pyproject.toml (the bridge uses its privates)"
    )
    installed = metadata.version(name)
    assert installed == pins[name], (
        f"{name} {installed} is installed but the bridge is written against {pins[name]}: "
        "run tests/bridge and read bridge/rtc.py before moving the pin"
    )


def _has(obj: Any, name: str, what: str) -> Any:
    assert hasattr(obj, name), (
        f"{what}: {type(obj).__name__}.{name} is gone (bridge/rtc.py uses it)"
    )
    return getattr(obj, name)


def test_the_classes_still_have_what_the_bridge_patches() -> None:
    for cls, name in (
        (RTCRtpReceiver, "_handle_rtcp_packet"),
        (RTCRtpReceiver, "_send_rtcp"),
        (RTCRtpSender, "_send_rtcp"),
        (RTCRtpSender, "_handle_rtcp_packet"),
    ):
        method = _has(cls, name, "a method the bridge replaces or calls")
        assert inspect.iscoroutinefunction(method), f"{cls.__name__}.{name} is no longer async"
    params = list(inspect.signature(RTCRtpReceiver._handle_rtcp_packet).parameters)
    assert params == ["self", "packet"], f"RTCRtpReceiver._handle_rtcp_packet({params})"
    from pylibsrtp._binding import ffi, lib

    for name in ("srtp_protect", "srtp_unprotect"):
        _has(lib, name, "a libsrtp function srtp_direct binds")
    assert ffi.new("int *") is not None
    _has(pylibsrtp, "SRTP_MAX_TRAILER_LEN", "pylibsrtp's trailer length")


async def test_live_objects_still_have_the_privates_the_bridge_reads() -> None:
    config = BridgeConfig()
    link, endpoint = await connect(config, "contract")
    try:
        transceiver = link.pc.getTransceivers()[0]
        receiver, sender = transceiver.receiver, transceiver.sender
        _has(sender, "_ssrc", "the sender's SSRC (RTCP sender of the tap)")
        _has(receiver, "_RTCRtpReceiver__rtcp_started", "the receiver's RTCP task flags")
        _has(receiver, "_RTCRtpReceiver__rtcp_exited", "the receiver's RTCP task flags")
        dtls = receiver.transport
        for name in ("_rtp_router", "_tx_srtp", "_rx_srtp", "_state", "_rtp_header_extensions_map"):
            _has(dtls, name, "the DTLS transport")
        _has(dtls, "_send_rtp", "the DTLS transport's RTP send")
        await wait_until(lambda: dtls._state is DtlsState.CONNECTED, "DTLS connected")
        connection = _has(dtls.transport, "_connection", "the ICE transport's aioice connection")
        _has(connection, "_protocols", "aioice's sockets (FastReceive reads them)")
        for session in (dtls._tx_srtp, dtls._rx_srtp):
            assert isinstance(session, pylibsrtp.Session), "DTLS connected: SRTP is keyed"
            for name in ("_srtp", "_cdata", "_buffer"):
                _has(session, name, "a pylibsrtp session (srtp_direct binds its context)")
        for name in ("protect", "unprotect"):
            _has(pylibsrtp.Session, name, "pylibsrtp.Session")
    finally:
        await link.close()
        await endpoint.close()


def test_offers_are_still_built_from_the_tables_transport_cc_extends() -> None:
    """`rtc.offer_transport_cc` adds to aiortc's module tables; aiortc must still read
    them when it makes an offer, and the bridge's offer must then carry transport-cc."""
    from aiortc import RTCPeerConnection
    from aiortc.codecs import CODECS, HEADER_EXTENSIONS

    source = inspect.getsource(RTCPeerConnection.createOffer)
    for table in ("HEADER_EXTENSIONS[transceiver.kind]", "CODECS[transceiver.kind]"):
        assert table in source, f"RTCPeerConnection.createOffer no longer reads {table}"
    assert set(HEADER_EXTENSIONS) == set(CODECS) == {"audio", "video"}
    params = list(inspect.signature(RTCRtpReceiver._send_rtcp).parameters)
    assert params == ["self", "packet"], f"RTCRtpReceiver._send_rtcp({params})"
    assert "bytes(packet)" in inspect.getsource(RTCRtpReceiver._send_rtcp), (
        "RTCRtpReceiver._send_rtcp no longer serializes with bytes(): the bridge's "
        "transport-cc feedback (raw bytes) would not go out"
    )


async def test_the_bridges_offer_carries_transport_cc() -> None:
    from bridge.peer import PeerLink, PeerOwner, SlotLayout
    from bridge.twcc import TRANSPORT_CC_URI

    link = PeerLink(BridgeConfig(), PeerOwner("r", "p", None, 1), SlotLayout(1, 1), lambda *_: None)
    try:
        sdp = await link.offer()
    finally:
        await link.close()
    assert f"a=extmap:5 {TRANSPORT_CC_URI}" in sdp
    media = sdp.split("m=")[1:]
    assert all("transport-cc" in m for m in media), "every m-line offers transport-cc feedback"
