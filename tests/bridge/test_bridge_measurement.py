"""What the bridge itself measures of a participant's media (`Bridge.measurement`), the
basis of a readiness check's verdict: pure pieces against golden numbers, then real aiortc
peers in a loopback test room, on a clean link and on links that lose packets."""

from __future__ import annotations

from bridge.contracts import Admission, Measurement
from bridge.forwarding import RateMeter
from bridge.frames import vp8_dimensions
from bridge.rtp import RemoteReports
from bridge.service import Bridge
from tests.bridge.bridgekit import Client, FakeAuthorizer, wait_until
from tests.bridge.bridgekit_media import vp8_clip
from tests.bridge.conftest import ROOM, ClientFactory
from tests.bridge.test_bridge_loss import Dropper, lossy_receive, lossy_send

# -- pure ----------------------------------------------------------------------------------


def test_vp8_key_frame_header_gives_the_picture_size() -> None:
    # RFC 6386 9.1: frame tag (P bit 0), start code, 14-bit width and height with scaling.
    key = b"\x50\x01\x00\x9d\x01\x2a" + (1280 | 0x4000).to_bytes(2, "little")
    key += (720).to_bytes(2, "little") + b"k" * 10
    assert vp8_dimensions(key) == (1280, 720)
    assert vp8_dimensions(b"\x31\x02\x00" + b"d" * 20) is None  # a delta frame
    assert vp8_dimensions(b"\x50\x01\x00\x9d\x01\x2b" + b"\0" * 8) is None  # no start code
    assert vp8_dimensions(key[:9]) is None
    clip = vp8_clip()
    assert vp8_dimensions(clip.frames[0]) == (160, 120)  # what libvpx wrote


def test_round_trip_time_from_lsr_and_dlsr() -> None:
    reports = RemoteReports()
    ntp = 0x1234_5678_9ABC_DEF0
    lsr = (ntp >> 16) & 0xFFFFFFFF
    reports.sender_report(ntp, at=100.0)
    # The receiver held the report 0.25 s (DLSR in 1/65536 s); it arrives 0.31 s after.
    reports.add(13, 7, 450, lsr, int(0.25 * 65536), packets_sent=900, at=100.31)
    assert reports.rtt is not None and abs(reports.rtt - 0.06) < 1e-4
    assert (reports.reports, reports.packets_lost, reports.sent_at_report) == (1, 7, 900)
    reports.add(0, 7, 450, 0, 0, packets_sent=950, at=101.0)  # LSR 0: no SR seen yet
    reports.add(0, 7, 450, 0xDEAD, 10, packets_sent=960, at=101.5)  # an unknown SR
    assert reports.rtt_samples == 1 and reports.reports == 3
    for i in range(RemoteReports.KEPT_SENDER_REPORTS):  # the first SR is forgotten
        reports.sender_report(ntp + ((i + 1) << 16), at=102.0 + i)
    reports.add(0, 7, 450, lsr, 0, packets_sent=990, at=120.0)
    assert reports.rtt_samples == 1


def test_rate_meter_means_over_the_whole_time() -> None:
    meter = RateMeter()
    for i in range(31):  # 31 frames of 1000 bytes, 30 a second: one second
        meter.add(1000, 10.0 + i / 30)
    assert abs(meter.seconds - 1.0) < 1e-9
    assert abs(meter.mean_frame_rate() - 30.0) < 1e-6
    assert abs(meter.mean_bitrate() - 31 * 8000) < 1e-6
    # Read a second after the last frame: the stream stalled, its means halve.
    assert abs(meter.mean_frame_rate(until=12.0) - 15.0) < 1e-6
    assert meter.mean_frame_rate(until=10.5) == meter.mean_frame_rate(), "never before the last"
    assert RateMeter().mean_bitrate(until=5.0) == 0.0


# -- real peers in a loopback room ------------------------------------------------------


async def _checker(client: ClientFactory, authorizer: FakeAuthorizer) -> Client:
    authorizer.admissions["check"] = Admission("check", "Kiểm tra", 7, False, False, loopback=True)
    me = await client("check", admit=False)
    me.ep.microphone.level = 30  # -30 dBov: someone speaks
    return me


def _measured(bridge: Bridge) -> Measurement:
    m = bridge.measurement(ROOM, "check")
    assert m is not None
    return m


def _seconds(m: Measurement) -> float:
    camera = m.track("camera")
    return 0.0 if camera is None else camera.seconds


def _rtt_flowed(m: Measurement) -> bool:
    return {r.slot for r in m.returned if r.rtt_ms is not None} >= {"main", "audio0"}


async def test_the_bridge_measures_what_it_receives_and_what_the_peer_reports(
    bridge: Bridge, client: ClientFactory, authorizer: FakeAuthorizer
) -> None:
    assert bridge.measurement(ROOM, "check") is None, "no room yet"
    me = await _checker(client, authorizer)
    assert bridge.measurement(ROOM, "someone-else") is None
    await wait_until(
        lambda: _rtt_flowed(_measured(bridge)) and _seconds(_measured(bridge)) > 1.5,
        lambda: f"media and RTCP both ways: {_measured(bridge)}",
        timeout=15.0,
    )
    m = _measured(bridge)
    assert m.connected and m.state == "live" and m.endpoint_id == 7
    camera, microphone = m.track("camera"), m.track("microphone")
    assert camera is not None and microphone is not None
    assert camera.packets_received > 30 and camera.packets_lost == 0
    assert camera.frames >= 45 and camera.keyframes >= 1
    assert 20 <= camera.frame_rate <= 40, camera  # the clip plays at 30 a second
    assert camera.bitrate_kbps > 10 and (camera.width, camera.height) == (160, 120)
    assert microphone.packets_received > 50 and microphone.loudest_dbov == -30.0
    assert 40 <= microphone.frame_rate <= 60, microphone  # 20 ms Opus packets
    assert microphone.width is None and camera.loudest_dbov is None
    returned = {r.slot: r for r in m.returned}
    assert set(returned) == {"main", "audio0"}, "only the slots that sent something"
    main = returned["main"]
    assert main.source_participant_id == "check" and main.kind == "video"
    assert main.packets_sent > 30 and main.reports >= 1 and main.packets_lost == 0
    assert main.rtt_ms is not None and 0 <= main.rtt_ms < 200, main  # on loopback
    assert main.jitter_ms is not None and main.fraction_lost == 0
    me.ep.microphone.level = 127  # silence from now on: the loudest stays what it was
    await wait_until(lambda: _measured(bridge).track("microphone") != microphone, "newer")
    assert (_measured(bridge).track("microphone") or microphone).loudest_dbov == -30.0


async def test_loss_towards_the_bridge_shows_in_its_receive_statistics(
    bridge: Bridge, client: ClientFactory, authorizer: FakeAuthorizer
) -> None:
    me = await _checker(client, authorizer)
    pc = me.ep.pc
    camera = next(t for t in pc.getTransceivers() if t.sender.track is me.ep.camera)
    dropper = Dropper(camera.sender._ssrc, seed=5)
    lossy_send(pc, dropper)
    await wait_until(
        lambda: dropper.dropped >= 5 and _rtt_flowed(_measured(bridge)),
        lambda: f"{dropper.dropped} lost; {_measured(bridge)}",
        timeout=15.0,
    )
    lost = dropper.dropped
    measured = _measured(bridge).track("camera")
    assert measured is not None
    # Retransmissions repair the picture, yet a packet lost on the way counts as lost.
    assert lost - 3 <= measured.packets_lost <= dropper.dropped, (lost, measured)
    mic = _measured(bridge).track("microphone")
    assert mic is not None and mic.packets_lost == 0, "only the camera's packets were lost"


async def test_loss_towards_the_participant_shows_in_its_receiver_reports(
    bridge: Bridge, client: ClientFactory, authorizer: FakeAuthorizer
) -> None:
    me = await _checker(client, authorizer)
    await wait_until(lambda: me.ep.slot("main").packets, "the first packets back in main")
    dropper = Dropper(me.ep.slot("main").packets[0].ssrc, seed=6)
    lossy_receive(me.ep.pc, dropper)

    def main_lost() -> int:
        main = next((r for r in _measured(bridge).returned if r.slot == "main"), None)
        return 0 if main is None else main.packets_lost

    await wait_until(
        lambda: dropper.dropped >= 5 and main_lost() >= 5,
        lambda: f"{dropper.dropped} lost on the way back; {_measured(bridge).returned}",
        timeout=15.0,
    )
    assert main_lost() <= dropper.dropped
    camera = _measured(bridge).track("camera")
    assert camera is not None and camera.packets_lost == 0, "the way in is clean"
