"""The generated media of the sample archive and the replay benchmark: a camera is told
apart by its colour once decoded, and a prepared track written through the recorder is a
file ffprobe reads at the length asked for, tagged with its first frame's wall clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import pytest

from bridge import TrackInfo
from recording.config import RecordingConfig
from recording.recorder import TrackRecorder
from recording.synthetic import tone_frames, video_frames
from tests.recording.recmedia import ffprobe

T0 = 1_790_000_000.0


def _track(kind: str) -> TrackInfo:
    video = kind == "video"
    return TrackInfo(
        f"t-{kind}", "session-1", "p-1", 4, kind,  # type: ignore[arg-type]
        "camera" if video else "microphone", "VP8" if video else "opus",
        90000 if video else 48000,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("rgb", "channel"), [((200, 30, 30), 0), ((30, 160, 60), 1), ((20, 60, 210), 2)]
)
def test_a_camera_is_its_colour_once_decoded(rgb: tuple[int, int, int], channel: int) -> None:
    first = next(video_frames(1.0, rgb, T0))
    assert first.keyframe and first.wallclock == T0
    decoder: Any = av.CodecContext.create("vp8", "r")
    (picture,) = decoder.decode(av.Packet(first.data))
    rgb24 = picture.reformat(format="rgb24").planes[0]
    data = bytes(rgb24)
    rows = [
        data[y * rgb24.line_size : y * rgb24.line_size + rgb24.width * 3]
        for y in range(rgb24.height)
    ]
    mean = [sum(sum(r[c::3]) for r in rows) / (rgb24.width * rgb24.height) for c in range(3)]
    assert max(range(3), key=lambda c: mean[c]) == channel, mean
    assert abs(mean[channel] - rgb[channel]) < 25, (mean, rgb)


@pytest.mark.parametrize("kind", ["video", "audio"])
def test_a_prepared_track_is_recorded_as_a_live_one(kind: str, tmp_path: Path) -> None:
    seconds = 30.0
    frames = (
        video_frames(seconds, (200, 30, 30), T0, loop_s=2.0)
        if kind == "video"
        else tone_frames(seconds, 440, T0)
    )
    recorder = TrackRecorder(_track(kind), RecordingConfig(spool_dir=tmp_path), key_prefix="s/1")
    recorded = recorder.write_prepared(frames)
    assert recorded is not None and recorded.finalized and recorded.status == "complete"
    assert recorded.started_at == T0 and recorded.dropped == 0
    probed = ffprobe(recorded.path)
    assert abs(float(probed["format"]["duration"]) - seconds) < 0.3, probed["format"]
    assert float(probed["format"]["tags"]["TIEPDAN_STARTED_AT"]) == T0
