"""Composite export: recorded track files in, one MP4 out that ffprobe (not our code) reads."""

from __future__ import annotations

import asyncio
import re
import struct
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from bridge import EncodedFrame, TrackInfo
from recording.config import RecordingConfig
from recording.export import (
    ExportCancelled,
    ExportConfig,
    ExportError,
    ExportJob,
    ExportQueue,
    ExportSpec,
    ExportTrack,
    FloorChange,
    plan_export,
    render_export,
)
from recording.recorder import TrackRecorder
from tests.recording.recmedia import T0, ffprobe, opus_frames, vp8_frames, wait_until

CENTRAL = 1
# (endpoint, first frame's wall-clock offset from T0, seconds recorded): the session runs
# from T0 to T0 + 6.
ENDPOINTS = ((CENTRAL, 0.0, 4.0), (2, 1.0, 4.0), (3, 2.0, 4.0))
FLOOR = (FloorChange(T0 + 2.0, 2), FloorChange(T0 + 4.0, 3))
FAST = ExportConfig(width=640, height=360, fps=15, preset="ultrafast", nice=0)


def track(endpoint: int, kind: str) -> TrackInfo:
    video = kind == "video"
    return TrackInfo(
        track_id=f"{kind}-{endpoint}",
        room_id="room-1",
        participant_id=f"p-{endpoint}",
        endpoint_id=endpoint,
        kind="video" if video else "audio",
        source="camera" if video else "microphone",
        codec="VP8" if video else "opus",
        clock_rate=90000 if video else 48000,
    )


async def record(
    info: TrackInfo, frames: list[EncodedFrame], config: RecordingConfig
) -> ExportTrack:
    recorder = TrackRecorder(info, config, key_prefix="s-1")
    recorder.start()
    for frame in frames:
        recorder.on_frame(info, frame)
    recorded = await recorder.stop()
    assert recorded is not None
    return ExportTrack.from_recorded(recorded)


async def record_session(spool: Path) -> tuple[ExportTrack, ...]:
    config = RecordingConfig(storage_url=spool.as_uri(), spool_dir=spool, min_free_bytes=0)
    out = []
    for endpoint, offset, seconds in ENDPOINTS:
        video = vp8_frames(seconds, fps=15, width=320, height=180, t0=T0 + offset)
        out.append(await record(track(endpoint, "video"), video, config))
        out.append(
            await record(track(endpoint, "audio"), opus_frames(seconds, t0=T0 + offset), config)
        )
    return tuple(out)


@pytest.fixture(scope="module")
def tracks(tmp_path_factory: pytest.TempPathFactory) -> tuple[ExportTrack, ...]:
    return asyncio.run(record_session(tmp_path_factory.mktemp("spool")))


def session(tracks: tuple[ExportTrack, ...], **kwargs: float) -> ExportSpec:
    return ExportSpec(tracks, FLOOR, central_endpoint_id=CENTRAL, **kwargs)


def assert_mp4(path: Path, duration: float) -> None:
    probe = ffprobe(path)
    kinds = sorted((s["codec_type"], s["codec_name"]) for s in probe["streams"])
    assert kinds == [("audio", "aac"), ("video", "h264")]
    assert "mp4" in probe["format"]["format_name"]
    assert float(probe["format"]["duration"]) == pytest.approx(duration, abs=0.5)
    for stream in probe["streams"]:
        assert float(stream["duration"]) == pytest.approx(duration, abs=0.5)
    assert top_level_boxes(path).index("moov") < top_level_boxes(path).index("mdat")  # faststart


def top_level_boxes(path: Path) -> list[str]:
    names, data, pos = [], path.read_bytes(), 0
    while pos + 8 <= len(data):
        size, name = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        names.append(name.decode("latin-1"))
        pos += size if size else len(data)
    return names


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def test_whole_session(tracks: tuple[ExportTrack, ...], tmp_path: Path) -> None:
    progress: list[float] = []
    out = await render_export(
        session(tracks), tmp_path / "s.mp4", FAST, on_progress=progress.append
    )

    assert_mp4(out, 6.0)
    assert progress[-1] == 1.0 and progress == sorted(progress)
    assert leftovers(tmp_path) == ["s.mp4"]


async def test_one_case_range(tracks: tuple[ExportTrack, ...], tmp_path: Path) -> None:
    spec = session(tracks, start=T0 + 1.5, end=T0 + 4.5)
    out = await render_export(spec, tmp_path / "case.mp4", FAST)

    assert_mp4(out, 3.0)


def test_plan_follows_the_floor(tracks: tuple[ExportTrack, ...]) -> None:
    plan = plan_export(session(tracks), {t.path: 4.0 for t in tracks}, FAST)

    assert plan.duration_s == pytest.approx(6.0)
    got = [(s.start_s, s.end_s, s.track.endpoint_id) for s in plan.segments]
    assert got == [(0.0, 2.0, CENTRAL), (2.0, 4.0, 2), (4.0, 6.0, 3)]
    # The large picture's windows start where each track is at that time.
    assert [(w.seek_s, w.at_s) for w in plan.main] == [(0.0, 0.0), (1.0, 2.0), (2.0, 4.0)]
    assert [s.windows[0][0].track.endpoint_id for s in plan.slots] == [CENTRAL, 2, 3]
    assert [s.windows[0][1] for s in plan.slots] == [((0.0, 2.0),), ((2.0, 4.0),), ((4.0, 6.0),)]
    assert [w.at_s for w in plan.audio] == [0.0, 1.0, 2.0]


def test_plan_prefers_a_screen_share_and_leaves_gaps_black(
    tracks: tuple[ExportTrack, ...],
) -> None:
    screen = ExportTrack(Path("screen.webm"), 2, "video", "screen", T0 + 2.5, 1.0)
    durations = {t.path: 4.0 for t in tracks} | {screen.path: 1.0}
    spec = ExportSpec((*tracks, screen), (FloorChange(T0 + 2.0, 2),), central_endpoint_id=99)
    plan = plan_export(spec, durations, FAST)

    got = [(s.start_s, s.end_s, s.track.source) for s in plan.segments]
    # The chair (99) recorded nothing: black until the floor goes to endpoint 2.
    assert got == [(2.0, 2.5, "camera"), (2.5, 3.5, "screen"), (3.5, 5.0, "camera")]


async def test_progress_and_cancellation_leave_no_file(
    tracks: tuple[ExportTrack, ...], tmp_path: Path
) -> None:
    queue = ExportQueue(FAST)
    # Ten minutes, mostly black: long enough to still be running when cancelled.
    job = queue.submit(session(tracks, end=T0 + 600), tmp_path / "long.mp4")
    try:
        await wait_until(lambda: job.progress > 0, "export progress reported", within_s=30)
        assert queue.running == 1 and 0 < job.progress < 1
        assert job.cancel()
        with pytest.raises(ExportCancelled):
            await job.wait()
    finally:
        await queue.stop()
    assert job.state == "cancelled"
    assert leftovers(tmp_path) == []


async def test_queue_runs_at_most_n_at_once(
    tracks: tuple[ExportTrack, ...], tmp_path: Path
) -> None:
    running: list[int] = []

    def on_change(job: ExportJob) -> None:
        running.append(queue.running)

    queue = ExportQueue(replace(FAST, max_concurrent=2), on_change=on_change)
    spec = session(tracks, start=T0 + 1.0, end=T0 + 2.0)
    jobs = [queue.submit(spec, tmp_path / f"{i}.mp4") for i in range(4)]
    try:
        outputs = await asyncio.gather(*(job.wait() for job in jobs))
    finally:
        await queue.stop()
    assert max(running) == 2
    assert all(job.state == "done" and job.progress == 1.0 for job in jobs)
    for out in outputs:
        assert_mp4(out, 1.0)


async def test_queue_stop_cancels_queued_and_running_jobs(
    tracks: tuple[ExportTrack, ...], tmp_path: Path
) -> None:
    queue = ExportQueue(FAST)
    jobs = [queue.submit(session(tracks, end=T0 + 600), tmp_path / f"{i}.mp4") for i in range(2)]
    await wait_until(lambda: jobs[0].state == "running", "first job running")
    await queue.stop()

    assert [job.state for job in jobs] == ["cancelled", "cancelled"]
    assert leftovers(tmp_path) == []


async def test_missing_input_is_a_clear_error(
    tracks: tuple[ExportTrack, ...], tmp_path: Path
) -> None:
    gone = ExportTrack(tmp_path / "gone.webm", 2, "video", "camera", T0, 4.0)
    queue = ExportQueue(FAST)
    job = queue.submit(ExportSpec((*tracks, gone)), tmp_path / "out.mp4")
    with pytest.raises(ExportError, match=r"input missing: .*gone\.webm"):
        await job.wait()
    await queue.stop()

    assert job.state == "failed" and "gone.webm" in (job.error or "")
    assert leftovers(tmp_path) == []


async def test_ffmpeg_failure_reports_its_last_lines(
    tracks: tuple[ExportTrack, ...], tmp_path: Path
) -> None:
    junk = tmp_path / "junk.webm"
    junk.write_bytes(b"not a media file" * 100)
    spec = ExportSpec((*tracks, ExportTrack(junk, 2, "video", "camera", T0, 4.0)))
    with pytest.raises(ExportError, match=r"ffmpeg failed \(exit status \d+\): .*junk\.webm"):
        await render_export(spec, tmp_path / "out.mp4", FAST)

    assert leftovers(tmp_path) == ["junk.webm"]


async def test_an_existing_output_is_never_replaced(
    tracks: tuple[ExportTrack, ...], tmp_path: Path
) -> None:
    out = tmp_path / "s.mp4"
    out.write_bytes(b"earlier export")
    with pytest.raises(ExportError, match="already exists"):
        await render_export(session(tracks), out, FAST)
    assert out.read_bytes() == b"earlier export"


def ffmpeg_report(path: Path, *filters: str) -> str:
    """What ffmpeg's own analysis filters (not our code) log about a file."""
    done = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-i", str(path), *filters, "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout + done.stderr


async def test_tracks_are_placed_by_wall_clock_with_black_and_silent_gaps(
    tracks: tuple[ExportTrack, ...], tmp_path: Path
) -> None:
    # Only endpoint 3, whose first frame came 2 s after T0: black and silence until then.
    late = tuple(t for t in tracks if t.endpoint_id == 3)
    spec = ExportSpec(late, (FloorChange(T0, 3),), start=T0, end=T0 + 5)
    out = await render_export(spec, tmp_path / "late.mp4", FAST)

    # The test media's chroma is far from black's 128: the first frame whose mean U moved.
    stats = ffmpeg_report(
        out, "-vf", "signalstats,metadata=print:key=lavfi.signalstats.UAVG:file=-", "-v", "error"
    )
    times = [float(t) for t in re.findall(r"pts_time:([\d.]+)", stats)]
    uavg = [float(u) for u in re.findall(r"UAVG=([\d.]+)", stats)]
    first_picture = next(t for t, u in zip(times, uavg, strict=True) if abs(u - 128) > 1)
    assert first_picture == pytest.approx(2.0, abs=0.1)
    assert times[-1] == pytest.approx(5.0, abs=0.1)
    silence = re.findall(
        r"silence_(start|end): ([\d.]+)",
        ffmpeg_report(out, "-af", "silencedetect=n=-60dB:d=0.2"),
    )
    assert [(k, float(v)) for k, v in silence][:2] == [
        ("start", 0.0),
        ("end", pytest.approx(2.0, abs=0.1)),
    ]
