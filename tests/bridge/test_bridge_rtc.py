"""The bridge's replacements for aiortc pieces give aiortc's answers."""

from __future__ import annotations

import random
import struct
from typing import Any

import pylibsrtp
import pytest
from aiortc.codecs.vpx import vp8_depayload
from aiortc.rate import RateCounter
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpSendParameters,
)
from aiortc.rtp import RTCP_RTPFB_NACK, HeaderExtensionsMap, RtcpRtpfbPacket, RtpPacket, unwrap_rtx

from bridge.rtc import ABS_SEND_TIME_URI, MID_URI, SlotSender, WindowRate, srtp_direct


def test_window_rate_answers_as_aiortcs_rate_counter() -> None:
    rng = random.Random(5)
    ours, theirs = WindowRate(1000, 8000), RateCounter(1000, 8000)
    now = 10_000
    for step in range(5000):
        # bursts within a millisecond, frame gaps, and now and then a silent second or more
        now += rng.choice((0, 0, 1, 3, 33, 40)) + (1500 if step % 997 == 0 else 0)
        assert ours.rate(now) == theirs.rate(now), f"rate at step {step}"
        if step % 1201 == 0:
            ours.reset()
            theirs.reset()
        size = rng.randrange(50, 1300)
        ours.add(size, now)
        theirs.add(size, now)
    assert ours.rate(now + 500) == theirs.rate(now + 500)


class FakeTransport:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def _send_rtp(self, data: bytes) -> None:
        self.sent.append(data)


class FakeSender:
    """The parts of an aiortc `RTCRtpSender` a `SlotSender` touches."""

    kind = "video"
    _ssrc = 1234
    _rtx_ssrc = 5678

    def __init__(self) -> None:
        self.transport = FakeTransport()
        self._RTCRtpSender__ntp_timestamp = 0
        self._RTCRtpSender__rtp_timestamp = 0
        self._RTCRtpSender__packet_count = 0
        self._RTCRtpSender__octet_count = 0

    async def send(self, parameters: RTCRtpSendParameters) -> None:
        pass

    async def _run_rtp(self, codec: object) -> None:
        pass

    async def _handle_rtcp_packet(self, packet: object) -> None:
        pass


def send_parameters() -> RTCRtpSendParameters:
    return RTCRtpSendParameters(
        codecs=[
            RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96),
            RTCRtpCodecParameters(
                mimeType="video/rtx", clockRate=90000, payloadType=97, parameters={"apt": 96}
            ),
        ],
        headerExtensions=[
            RTCRtpHeaderExtensionParameters(id=1, uri=MID_URI),
            RTCRtpHeaderExtensionParameters(id=2, uri=ABS_SEND_TIME_URI),
        ],
        muxId="7",
    )


async def test_slot_sender_writes_what_aiortc_reads_and_retransmits_as_rtx() -> None:
    fake = FakeSender()
    sender: Any = fake
    frames: Any = None  # only the sender task would read frames
    slot_sender = SlotSender(sender, frames, lambda: None, lambda n: None)
    parameters = send_parameters()
    await slot_sender._send(parameters)
    extensions = HeaderExtensionsMap()
    extensions.configure(parameters)
    frame = bytes(range(256)) * 12  # three packets
    packets = [RtpPacket.parse(p, extensions) for p in slot_sender._packets(frame, 3000)]
    assert [p.marker for p in packets] == [0, 0, 1]
    first = packets[0].sequence_number
    assert [(p.sequence_number - first) & 0xFFFF for p in packets] == [0, 1, 2]
    assert {(p.ssrc, p.payload_type, p.extensions.mid) for p in packets} == {(1234, 96, "7")}
    assert all(p.extensions.abs_send_time is not None for p in packets)
    assert b"".join(vp8_depayload(p.payload) for p in packets) == frame
    assert fake._RTCRtpSender__packet_count == 3

    nack = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=1, media_ssrc=1234)
    nack.lost = [packets[1].sequence_number]
    await slot_sender._handle_rtcp_packet(nack)
    rtx = RtpPacket.parse(fake.transport.sent[-1], extensions)
    assert (rtx.ssrc, rtx.payload_type) == (5678, 97)
    original = unwrap_rtx(rtx, payload_type=96, ssrc=1234)
    assert (original.sequence_number, original.payload) == (
        packets[1].sequence_number,
        packets[1].payload,
    )


def test_direct_srtp_calls_give_pylibsrtps_answers() -> None:
    key = bytes(range(30))  # AES_CM_128_HMAC_SHA1_80: 16-byte key and 14-byte salt

    def session(direction: int) -> pylibsrtp.Session:
        return pylibsrtp.Session(policy=pylibsrtp.Policy(key=key, ssrc_type=direction))

    ours_out, theirs_out = (
        session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND),
        session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND),
    )
    protect = srtp_direct(ours_out, protect=True)
    unprotect = srtp_direct(session(pylibsrtp.Policy.SSRC_ANY_INBOUND), protect=False)
    rng = random.Random(3)
    for seq in range(200):
        packet = struct.pack("!BBHII", 0x80, 96, seq, 3000 * seq, 1234) + rng.randbytes(1100)
        protected = protect(packet)
        assert protected == theirs_out.protect(packet)
        assert unprotect(protected) == packet
    with pytest.raises(pylibsrtp.Error):
        unprotect(protected)  # a replay
    with pytest.raises(ValueError, match="too long"):
        protect(bytes(1400))
