"""Track recorders: real VP8/Opus frames in, files that ffprobe reads out."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from bridge import EncodedFrame, TrackInfo
from recording.config import RecordingConfig
from recording.recorder import (
    RecordedFile,
    RecordingFailure,
    SessionRecorder,
    TrackRecorder,
    sidecar_path,
    store_recording,
)
from recording.storage import open_storage
from tests.recording.recmedia import (
    T0,
    FillingFile,
    audio_track,
    ffprobe,
    opus_frames,
    video_track,
    vp8_frames,
    wait_until,
)


async def record(
    track: TrackInfo, frames: list[EncodedFrame], config: RecordingConfig, **kwargs: object
) -> RecordedFile:
    recorder = TrackRecorder(track, config, key_prefix="2025/s-1", **kwargs)  # type: ignore[arg-type]
    recorder.start()
    for frame in frames:
        recorder.on_frame(track, frame)
    result = await recorder.stop()
    assert result is not None
    return result


async def test_vp8_track_is_muxed_without_reencoding(
    file_config: RecordingConfig, vp8_5s: list[EncodedFrame]
) -> None:
    result = await record(video_track(), vp8_5s, file_config)

    probe = ffprobe(result.path)
    (stream,) = probe["streams"]
    assert stream["codec_name"] == "vp8"
    assert (stream["width"], stream["height"]) == (320, 240)
    assert int(stream["nb_read_packets"]) == len(vp8_5s)
    assert "webm" in probe["format"]["format_name"]
    assert float(probe["format"]["duration"]) == pytest.approx(5.0, abs=0.1)
    assert result.duration_s == pytest.approx(5.0, abs=0.05)
    assert result.started_at == T0
    assert probe["format"]["tags"]["TIEPDAN_TRACK_ID"] == "cam-1"
    assert result.status == "complete" and result.finalized and result.dropped == 0
    assert result.key.startswith("2025/s-1/camera-12-cam-1-") and result.key.endswith(".webm")
    assert result.path.name == result.key.rsplit("/", 1)[1]


async def test_opus_track(file_config: RecordingConfig, opus_5s: list[EncodedFrame]) -> None:
    result = await record(audio_track(), opus_5s, file_config)

    (stream,) = ffprobe(result.path)["streams"]
    assert stream["codec_name"] == "opus"
    assert stream["sample_rate"] == "48000"
    assert int(stream["nb_read_packets"]) == len(opus_5s)
    assert float(ffprobe(result.path)["format"]["duration"]) == pytest.approx(5.0, abs=0.1)


async def test_h264_goes_into_matroska(file_config: RecordingConfig) -> None:
    frames = vp8_frames(2.0, codec="libx264")
    result = await record(video_track("cam-h", codec="H264"), frames, file_config)

    probe = ffprobe(result.path)
    assert probe["streams"][0]["codec_name"] == "h264"
    assert "matroska" in probe["format"]["format_name"]
    assert float(probe["format"]["duration"]) == pytest.approx(2.0, abs=0.15)


async def test_video_starts_at_a_keyframe_and_counts_what_it_skips(
    file_config: RecordingConfig, vp8_5s: list[EncodedFrame]
) -> None:
    first_key_after_start = next(i for i, f in enumerate(vp8_5s) if i and f.keyframe)

    result = await record(video_track(), vp8_5s[1:], file_config)

    assert result.dropped == first_key_after_start - 1
    assert result.frames == len(vp8_5s) - first_key_after_start
    assert result.started_at == vp8_5s[first_key_after_start].wallclock


async def test_a_full_queue_drops_to_the_next_keyframe_without_blocking(
    tmp_path: Path, vp8_5s: list[EncodedFrame]
) -> None:
    config = RecordingConfig(spool_dir=tmp_path, queue_frames=10, storage_url="file:///x")
    track = video_track()
    recorder = TrackRecorder(track, config, key_prefix="s")
    recorder.start()
    for frame in vp8_5s[:20]:  # no await in between: the writer cannot run
        recorder.on_frame(track, frame)
    assert recorder.dropped == 10
    await wait_until(lambda: recorder.queued == 0, "writer drained the queue")
    next_key = next(i for i in range(20, len(vp8_5s)) if vp8_5s[i].keyframe)
    for frame in vp8_5s[20:]:
        recorder.on_frame(track, frame)
        await wait_until(lambda: recorder.queued == 0, "writer keeps up")
    result = await recorder.stop()

    assert result is not None
    assert result.frames == 10 + len(vp8_5s) - next_key
    assert result.dropped == len(vp8_5s) - result.frames
    assert int(ffprobe(result.path)["streams"][0]["nb_read_packets"]) == result.frames


async def test_stop_without_frames_gives_nothing(file_config: RecordingConfig) -> None:
    recorder = TrackRecorder(audio_track(), file_config, key_prefix="s")
    recorder.start()
    assert await recorder.stop() is None
    assert not recorder.running


async def test_unknown_codec_is_refused(file_config: RecordingConfig) -> None:
    with pytest.raises(ValueError, match="AV1"):
        TrackRecorder(video_track(codec="AV1"), file_config, key_prefix="s")


async def test_session_recorder_writes_one_file_per_track(
    file_config: RecordingConfig, vp8_5s: list[EncodedFrame], opus_5s: list[EncodedFrame]
) -> None:
    session = SessionRecorder(file_config, key_prefix="2025/s-2")
    video, audio = video_track(), audio_track()
    for v, a in zip(vp8_5s, opus_5s, strict=False):
        session.on_frame(video, v)
        session.on_frame(audio, a)
    session.on_track_ended(audio)
    results = await session.stop()

    assert sorted(r.track.track_id for r in results) == ["cam-1", "mic-1"]
    codecs = {r.track.track_id: ffprobe(r.path)["streams"][0]["codec_name"] for r in results}
    assert codecs == {"cam-1": "vp8", "mic-1": "opus"}


async def test_recorded_file_is_stored_and_spool_released(
    file_config: RecordingConfig, opus_5s: list[EncodedFrame]
) -> None:
    result = await record(audio_track(), opus_5s, file_config)
    storage = open_storage(file_config)

    stored = await store_recording(storage, result)

    assert (stored.size, stored.sha256) == (result.size, result.sha256)
    assert not result.path.exists() and not sidecar_path(result.path).exists()
    assert await storage.hash_object(result.key) == (result.size, result.sha256)
    assert result.manifest_entry().sha256 == result.sha256


async def test_disk_full_stops_cleanly_keeps_what_was_written_and_tells(
    file_config: RecordingConfig, opus_5s: list[EncodedFrame]
) -> None:
    failures: list[RecordingFailure] = []

    result = await record(
        audio_track(),
        opus_5s,
        file_config,
        open_file=lambda p: FillingFile(p, 40_000),
        on_failure=failures.append,
    )

    (failure,) = failures
    assert failure.reason == "disk_full" and failure.error.errno == errno.ENOSPC
    assert result.status == "disk_full" and not result.finalized
    assert result.path.exists() and result.path.name.endswith(".part")
    assert 0 < result.size <= 40_000
    assert json.loads(sidecar_path(result.path).read_bytes())["state"] == "recording"
    # What reached the disk is playable as it is (ffprobe reads the clusters written).
    probe = ffprobe(result.path)
    assert probe["streams"][0]["codec_name"] == "opus"
    assert int(probe["streams"][0]["nb_read_packets"]) > 0


def test_opus_frames_fixture_sanity() -> None:
    frames = opus_frames(0.1)
    assert all(f.keyframe for f in frames)
    assert frames[1].timestamp - frames[0].timestamp == 960
