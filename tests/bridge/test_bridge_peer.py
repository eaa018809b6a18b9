"""PeerLink and forwarding over real aiortc peers on loopback, without rooms or signaling."""

from __future__ import annotations

from bridge.config import BridgeConfig
from bridge.peer import PeerLink, PeerOwner, SlotLayout
from tests.bridge.bridgekit import Endpoint, is_run_of, wait_until
from tests.bridge.bridgekit_media import opus_clip, vp8_clip


async def connect(config: BridgeConfig, pid: str) -> tuple[PeerLink, Endpoint]:
    link = PeerLink(config, PeerOwner("room", pid, 1, 0), SlotLayout(2, 2), lambda *_: None)
    endpoint = Endpoint(vp8_clip(), opus_clip())
    answer = await endpoint.answer(await link.offer(), link.published_mids())
    for slot in link.slots:
        endpoint.slots[slot.name] = {"mid": slot.mid}
    await link.answer(answer)
    return link, endpoint


async def test_forwards_the_publishers_frames_byte_for_byte() -> None:
    config = BridgeConfig()
    pub_link, pub = await connect(config, "a")
    sub_link, sub = await connect(config, "b")
    try:
        main = next(s for s in sub_link.slots if s.role == "main")
        audio = next(s for s in sub_link.slots if s.role == "audio")
        main.switch(pub_link.published["camera"])
        audio.switch(pub_link.published["microphone"])
        await wait_until(
            lambda: len(sub.slot("main").frames) >= 20,
            lambda: f"{len(sub.slot('main').frames)} frames",
        )
        got = sub.slot("main").frames
        sent = pub.camera.sent
        assert got[0] == vp8_clip().frames[0], "the first forwarded frame is the key frame"
        assert is_run_of(got, sent)
        for transceiver in pub_link.pc.getTransceivers()[:3]:
            thread = getattr(transceiver.receiver, "_RTCRtpReceiver__decoder_thread")  # noqa: B009
            assert thread is None, "nothing decodes on the bridge"
        await wait_until(lambda: len(sub.slot("audio0").frames) >= 20, "audio frames")
        assert is_run_of(sub.slot("audio0").frames, pub.microphone.sent)
    finally:
        for link in (pub_link, sub_link):
            await link.close()
        await pub.close()
        await sub.close()


async def test_a_subscribers_keyframe_request_reaches_the_publisher() -> None:
    config = BridgeConfig(keyframe_request_interval=0.05)
    pub_link, pub = await connect(config, "a")
    sub_link, sub = await connect(config, "b")
    try:
        main = next(s for s in sub_link.slots if s.role == "main")
        main.switch(pub_link.published["camera"])
        await wait_until(lambda: len(sub.slot("main").packets) >= 5, "video in the main slot")
        before = pub.camera.keyframe_requests
        receiver = next(t for t in sub.pc.getTransceivers() if t.mid == main.mid).receiver
        ssrc = sub.slot("main").packets[-1].ssrc
        await receiver._send_rtcp_pli(ssrc)  # what a browser sends on picture loss
        await wait_until(lambda: pub.camera.keyframe_requests > before, "a PLI at the publisher")
        keyframes = sub.slot("main").keyframes
        await wait_until(lambda: sub.slot("main").keyframes > keyframes, "a new key frame arrives")
    finally:
        for link in (pub_link, sub_link):
            await link.close()
        await pub.close()
        await sub.close()
