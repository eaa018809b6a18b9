"""NACK/RTX on each leg (RFC 4585 6.2.1, RFC 4588): real aiortc peers on loopback, one
leg at a time losing a seeded, fixed share of its video packets, and the subscriber still
gets every frame the publisher sent, byte for byte."""

from __future__ import annotations

import itertools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCSessionDescription
from aiortc.codecs.vpx import vp8_depayload
from aiortc.rtcrtpreceiver import NackGenerator
from aiortc.rtp import RtpPacket, is_rtcp, unwrap_rtx

from bridge.config import BridgeConfig
from bridge.peer import PeerLink, PeerOwner, SlotLayout
from tests.bridge.bridgekit import Endpoint, PacketSource, is_run_of, wait_until
from tests.bridge.bridgekit_media import opus_clip, vp8_clip

LOSS = 0.05  # of the media packets of one video stream
FRAMES = 90  # three seconds of video
SETTLING = 10  # the newest frames, whose lost packets may still be on their way again


class Dropper:
    """Decides, packet by packet, whether the link loses an SRTP packet of one SSRC: the
    n-th such packet is lost or not the same way on every run (seeded), retransmissions
    (another SSRC) always pass."""

    def __init__(self, ssrc: int, seed: int) -> None:
        self.ssrc = ssrc
        self._rng = random.Random(seed)
        self.dropped = 0

    def lose(self, data: bytes) -> bool:
        # SRTP keeps the RTP header in clear (RFC 3711 3.1): SSRC at bytes 8..11.
        if len(data) < 12 or not 128 <= data[0] < 192 or is_rtcp(data):
            return False
        if int.from_bytes(data[8:12], "big") != self.ssrc:
            return False
        lost = self._rng.random() < LOSS
        self.dropped += lost
        return lost


def lossy_send(pc: Any, dropper: Dropper) -> None:
    """Make `pc`'s outgoing datagrams pass through `dropper` (the ICE transport's send)."""
    ice = pc.getTransceivers()[0].sender.transport.transport
    send: Callable[[bytes], Awaitable[None]] = ice._send

    async def maybe_send(data: bytes) -> None:
        if not dropper.lose(data):
            await send(data)

    ice._send = maybe_send


def lossy_receive(pc: Any, dropper: Dropper) -> None:
    """Make `pc`'s incoming datagrams pass through `dropper` (the ICE transport's receive)."""
    ice = pc.getTransceivers()[0].receiver.transport.transport
    recv: Callable[[], Awaitable[bytes]] = ice._recv

    async def maybe_recv() -> bytes:
        while dropper.lose(data := await recv()):
            pass
        return data

    ice._recv = maybe_recv


@dataclass
class Repairing:
    """A subscriber's video receiver that asks again for what is lost, as a browser does,
    and rebuilds frames from packets in sequence order."""

    rtx_pt: int
    receiver: Any
    nack: NackGenerator = field(default_factory=NackGenerator)
    packets: dict[int, RtpPacket] = field(default_factory=dict)
    media_ssrc: int | None = None
    rtx_received: int = 0
    nacks_sent: int = 0

    async def handle(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        if packet.payload_type == self.rtx_pt:
            if self.media_ssrc is None or len(packet.payload) < 2:
                return
            self.rtx_received += 1
            packet = unwrap_rtx(packet, payload_type=self.rtx_pt, ssrc=self.media_ssrc)
        else:
            self.media_ssrc = packet.ssrc
        if self.nack.add(packet):
            self.nacks_sent += 1
            await self.receiver._send_rtcp_nack(packet.ssrc, sorted(self.nack.missing))
        self.packets.setdefault(packet.sequence_number, packet)

    def frames(self) -> tuple[list[bytes], int]:
        """Complete frames in order, and how many frames have a hole, among those old
        enough that their repair is no longer under way."""
        settled = self._groups()[:-SETTLING]
        complete = [frame for frame in settled if frame is not None]
        return complete, len(settled) - len(complete)

    def _groups(self) -> list[bytes | None]:
        if not self.packets:
            return []
        first = next(iter(self.packets))  # sort by signed distance from it: seq may wrap
        ordered = sorted(
            self.packets.values(), key=lambda p: (p.sequence_number - first + 0x8000) & 0xFFFF
        )
        groups: list[list[RtpPacket]] = []
        for packet in ordered:
            if groups and groups[-1][-1].timestamp == packet.timestamp:
                groups[-1].append(packet)
            else:
                groups.append([packet])
        return [self._frame(group) for group in groups[1:]]  # the first may lack its head

    @staticmethod
    def _frame(group: list[RtpPacket]) -> bytes | None:
        seqs = [p.sequence_number for p in group]
        contiguous = all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
        head = group[0].payload
        starts = bool(head[0] & 0x10) and not head[0] & 0x0F
        if not (contiguous and starts and group[-1].marker):
            return None
        return b"".join(vp8_depayload(p.payload) for p in group)


class ScreenSharing(Endpoint):
    """Publishes a screen besides its camera, so that two video streams share the RTX
    payload type of the bundle and only the SSRC tells their retransmissions apart."""

    def __init__(self) -> None:
        super().__init__(vp8_clip(), opus_clip())
        self.screen = PacketSource("video", vp8_clip(9), 30)

    async def answer(self, offer: str, publish: dict[str, str | None]) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        sources = {
            publish["camera"]: self.camera,
            publish["microphone"]: self.microphone,
            publish["screen"]: self.screen,
        }
        for transceiver in self.pc.getTransceivers():
            if transceiver.mid in sources:
                self._publish(transceiver, sources[transceiver.mid])
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return str(self.pc.localDescription.sdp)


async def connect(config: BridgeConfig, pid: str, endpoint: Endpoint) -> PeerLink:
    link = PeerLink(config, PeerOwner("room", pid, 1, 0), SlotLayout(1, 1), lambda *_: None)
    answer = await endpoint.answer(await link.offer(), link.published_mids())
    for slot in link.slots:
        endpoint.slots[slot.name] = {"mid": slot.mid}
    await link.answer(answer)
    return link


def repair(sub: Endpoint, mid: str, sender: Any) -> Repairing:
    """Receive the slot `mid` (sent by the bridge's `sender`) through a `Repairing`."""
    transceiver = next(t for t in sub.pc.getTransceivers() if t.mid == mid)
    rtx = next(c for c in transceiver._codecs if c.mimeType.lower() == "video/rtx")
    assert rtx.payloadType is not None
    receiver: Any = transceiver.receiver
    repairing = Repairing(rtx.payloadType, receiver)
    receiver._handle_rtp_packet = repairing.handle
    # A browser routes RTX by the SDP's ssrc-group (RFC 4588 8.3); aiortc's router does not.
    receiver.transport._rtp_router.ssrc_table[sender._rtx_ssrc] = receiver
    return repairing


async def run_leg(leg: str) -> None:
    # A frame given up shows as a gap (no key frame papers over it soon); repairs may take
    # long on a busy test machine, which is not what this test is about.
    config = BridgeConfig(keyframe_request_interval=10.0, reorder_wait=1.0)
    pub, sub = ScreenSharing(), Endpoint(vp8_clip(), opus_clip())
    pub_link = await connect(config, "a", pub)
    sub_link = await connect(config, "b", sub)
    try:
        main = next(s for s in sub_link.slots if s.role == "main")
        assert main.mid is not None
        sender = next(t for t in sub_link.pc.getTransceivers() if t.mid == main.mid).sender
        repairing = repair(sub, main.mid, sender)
        if leg == "publisher":
            camera = next(t for t in pub.pc.getTransceivers() if t.sender.track is pub.camera)
            dropper = Dropper(camera.sender._ssrc, seed=3)
            lossy_send(pub.pc, dropper)
        else:
            dropper = Dropper(sender._ssrc, seed=4)
            lossy_receive(sub.pc, dropper)
        main.switch(pub_link.published["camera"])
        await wait_until(
            lambda: len(repairing.frames()[0]) >= FRAMES,
            lambda: f"{len(repairing.frames()[0])} complete frames, {dropper.dropped} lost",
            timeout=15.0,
        )
        got, holes = repairing.frames()
        assert dropper.dropped >= 5, "the link lost packets"
        assert holes == 0, f"{holes} frames not repaired"
        assert is_run_of(got, pub.camera.sent), "every frame arrives, byte for byte"
        figures = (await pub_link.figures())["inbound"]
        assert figures["screen"]["frames"] > 0, "the screen is published too"
        inbound, nacked = figures["camera"], main.packets_nacked
        # The media came the direct way (`FastReceive`), not through aiortc's queue.
        assert inbound["packets_direct"] > 10 * (1 + inbound["packets_via_aiortc"]), inbound
        # What an operator sees of it (`PeerLink.stats`, behind `Bridge.stats` and /metrics).
        published, received = pub_link.stats("live"), sub_link.stats("live")
        assert published.nacks_sent == inbound["nacks_sent"]
        assert received.nacked_packets == nacked
        if leg == "publisher":
            assert inbound["nacks_sent"] > 0 and inbound["rtx_received"] > 0, inbound
            assert nacked == 0 and repairing.rtx_received == 0, "the other leg is clean"
            # A packet repaired by RTX still counts as lost (RFC 3550 A.3).
            assert published.packets_lost > 0 and published.loss is not None
            assert 0 < published.loss < 2 * LOSS, published
        else:
            assert nacked >= dropper.dropped and repairing.rtx_received > 0, nacked
            assert inbound["nacks_sent"] == 0, "the other leg is clean"
            assert published.packets_lost == 0 and published.loss == 0, "the other leg is clean"
        assert published.packets_in > 0 and received.packets_out > 0
    finally:
        for link in (pub_link, sub_link):
            await link.close()
        await pub.close()
        await sub.close()


async def test_nack_and_rtx_repair_loss_from_the_publisher() -> None:
    await run_leg("publisher")


async def test_nack_and_rtx_repair_loss_towards_the_subscriber() -> None:
    await run_leg("subscriber")
