"""What the bridge measured of a readiness check's media, in the terms scheduling judges.

The focal staff's participant in its endpoint's test room (`readiness-{endpoint_id}`) is
read from the bridge's `MeasurementSource`: what reached the bridge (its receive statistics)
and what the browser's receiver reports said of the media sent back.
"""

from __future__ import annotations

from bridge import InboundMeasure, Measurement, MeasurementSource, ReturnMeasure
from scheduling.checks import Measured
from web.live import readiness_participant_id, readiness_room_id


def measured(source: MeasurementSource, endpoint_id: int, account_id: int) -> Measured | None:
    """What the bridge measured of this account's check of this endpoint; None when the
    account has no participant in the test room."""
    room = readiness_room_id(endpoint_id)
    m = source.measurement(room, readiness_participant_id(account_id))
    return None if m is None else from_measurement(m)


def _pct(part: int, whole: int) -> float:
    return round(min(100.0, 100 * part / whole), 2) if whole > 0 else 0.0


def _upstream_loss(tracks: list[InboundMeasure]) -> float:
    received = sum(t.packets_received for t in tracks)
    lost = sum(t.packets_lost for t in tracks)
    return _pct(lost, received + lost)


def _downstream_loss(back: list[ReturnMeasure]) -> float:
    return _pct(sum(r.packets_lost for r in back), sum(r.packets_sent_at_report for r in back))


def from_measurement(m: Measurement) -> Measured:
    camera, microphone = m.track("camera"), m.track("microphone")
    tracks = [t for t in (camera, microphone) if t is not None]
    # The slots that carried the participant's own media back, as its reports describe them.
    back = [r for r in m.returned if r.source_participant_id == m.participant_id and r.reports]
    rtts = [r.rtt_ms for r in back if r.rtt_ms is not None]
    video_back = next((r for r in back if r.kind == "video"), None)
    return Measured(
        video_packets=camera.packets_received if camera else 0,
        audio_packets=microphone.packets_received if microphone else 0,
        seconds=camera.seconds if camera else 0.0,
        rtt_ms=max(rtts) if rtts else None,  # the slower of picture and sound
        upstream_loss_pct=_upstream_loss(tracks),
        downstream_loss_pct=_downstream_loss(back),
        jitter_ms=camera.jitter_ms if camera else 0.0,
        returned_jitter_ms=video_back.jitter_ms if video_back else None,
        bitrate_kbps=round(sum(t.bitrate_kbps for t in tracks), 1),
        fps=camera.frame_rate if camera else 0.0,
        width=(camera.width or 0) if camera else 0,
        height=(camera.height or 0) if camera else 0,
        loudest_dbov=microphone.loudest_dbov if microphone else None,
    )
