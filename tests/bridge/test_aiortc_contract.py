"""The contract between the bridge and the private parts of aiortc, aioice and pylibsrtp.

`bridge/rtc/seam.py` is the one module that reaches into them, and lists what it uses. Their versions are pinned exactly
in pyproject.toml; this test says, with a message naming what to look at, when an installed
version differs from the pin or when a private the bridge uses is gone or changed — before a
forwarding test fails somewhere deep with an AttributeError."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pylibsrtp
import pytest
from aioice.ice import StunProtocol
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender

from bridge.config import BridgeConfig
from bridge.peer import PeerLink, PeerOwner, SlotLayout
from bridge.rtc import offer_transport_cc, seam
from bridge.twcc import TRANSPORT_CC_URI
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
        "run tests/bridge and read bridge/rtc/seam.py before moving the pin"
    )


def test_the_classes_still_have_what_the_bridge_replaces_or_calls() -> None:
    assert seam.missing_class_privates() == []


async def test_live_objects_still_have_the_privates_the_bridge_reads() -> None:
    link, endpoint = await connect(BridgeConfig(), "contract")
    try:
        transceiver = link.pc.getTransceivers()[0]
        dtls = transceiver.receiver.transport
        await wait_until(lambda: seam.dtls_connected(dtls), "DTLS connected")
        objects = seam.live_objects(transceiver.receiver, transceiver.sender)
        assert seam.missing_live_privates(objects) == []
        for session in (dtls._tx_srtp, dtls._rx_srtp):
            assert isinstance(session, pylibsrtp.Session), "DTLS connected: SRTP is keyed"
    finally:
        await link.close()
        await endpoint.close()


@pytest.mark.parametrize(
    ("owner", "name"),
    [
        (RTCRtpReceiver, "_handle_disconnect"),
        (RTCRtpSender, "_run_rtp"),
        (StunProtocol, "send_data"),
    ],
)
def test_a_removed_class_private_is_named(
    monkeypatch: pytest.MonkeyPatch, owner: type, name: str
) -> None:
    """The check is not vacuous: remove a private the bridge uses and it says which, and
    the bridge refuses to make a peer connection on such a library."""
    monkeypatch.delattr(owner, name)
    monkeypatch.setattr(seam, "_checked", False)
    problems = seam.missing_class_privates()
    assert len(problems) == 1 and f"{owner.__name__}.{name} is gone" in problems[0], problems
    with pytest.raises(RuntimeError, match=f"{owner.__name__}.{name} is gone"):
        offer_transport_cc()


def test_a_private_that_stopped_being_async_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RTCRtpReceiver, "_run_rtcp", lambda self: None)
    problems = seam.missing_class_privates()
    assert any("RTCRtpReceiver._run_rtcp is no longer async" in p for p in problems), problems


def test_an_offer_built_elsewhere_is_noticed(monkeypatch: pytest.MonkeyPatch) -> None:
    """offer_transport_cc adds to the tables createOffer reads; if createOffer stopped
    reading them the check says so."""

    async def create_offer(self: RTCPeerConnection) -> None:
        return None

    monkeypatch.setattr(RTCPeerConnection, "createOffer", create_offer)
    problems = seam.missing_class_privates()
    assert any("createOffer no longer uses HEADER_EXTENSIONS" in p for p in problems), problems


async def test_a_removed_live_private_is_named() -> None:
    link, endpoint = await connect(BridgeConfig(), "contract-broken")
    try:
        transceiver = link.pc.getTransceivers()[0]
        dtls = transceiver.receiver.transport
        await wait_until(lambda: seam.dtls_connected(dtls), "DTLS connected")
        objects = seam.live_objects(transceiver.receiver, transceiver.sender)
        del transceiver.sender._rtx_ssrc  # as if aiortc had renamed it
        objects["srtp"] = object()  # a session object without pylibsrtp's privates
        problems = seam.missing_live_privates(objects)
        assert any("RTCRtpSender._rtx_ssrc is gone" in p for p in problems), problems
        assert sum("pylibsrtp Session." in p for p in problems) == 3, problems
        transceiver.sender._rtx_ssrc = 0
    finally:
        await link.close()
        await endpoint.close()


async def test_the_bridges_offer_carries_transport_cc() -> None:
    link = PeerLink(BridgeConfig(), PeerOwner("r", "p", None, 1), SlotLayout(1, 1), _ignore)
    try:
        sdp = await link.offer()
    finally:
        await link.close()
    assert f"a=extmap:{seam.TRANSPORT_CC_ID} {TRANSPORT_CC_URI}" in sdp
    media = sdp.split("m=")[1:]
    assert all("transport-cc" in m for m in media), "every m-line offers transport-cc feedback"


def _ignore(*_: object) -> None:
    return None
