"""Crash recovery: partial spool files are repaired by remuxing, finalized and stored."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from bridge import EncodedFrame
from recording.config import RecordingConfig
from recording.recorder import TrackRecorder, sidecar_path
from recording.recovery import recover_spool
from recording.storage import open_storage
from tests.recording.recmedia import FillingFile, audio_track, ffprobe, video_track

CHILD = Path(__file__).with_name("record_child.py")
REPO = Path(__file__).parents[2]


def run_child_until(spool: Path, sent_at_least: float) -> float:
    """Start the recording child, kill -9 it once it has sent `sent_at_least` seconds of
    media; return how much it had sent."""
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(spool)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    sent = 0.0
    deadline = time.monotonic() + 60
    try:
        while sent < sent_at_least:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([child.stdout], [], [], max(0.0, remaining))
            line = child.stdout.readline() if ready else ""
            if not line:
                err = child.stderr.read() if child.poll() is not None and child.stderr else ""
                raise AssertionError(f"child stopped or timed out at sent={sent}: {err}")
            if line.startswith("sent "):
                sent = float(line.split()[1])
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    return sent


async def test_kill_9_while_recording_then_recover(file_config: RecordingConfig) -> None:
    spool = file_config.spool_dir
    sent = await asyncio.to_thread(run_child_until, spool, 4.0)
    parts = sorted((spool / "tracks").glob("*.part"))
    assert len(parts) == 2, "both tracks were being written when the process died"

    storage = open_storage(file_config)
    report = await recover_spool(file_config, storage)

    assert not report.failed, report.failed
    assert sorted(r.track.codec for r in report.recovered) == ["VP8", "opus"]
    assert len(report.stored) == 2
    root = Path(file_config.storage_url.removeprefix("file://"))
    for recorded, stored in report.stored:
        probe = ffprobe(root / stored.key)
        duration = float(probe["format"]["duration"])
        print(f"{recorded.track.codec}: sent {sent:.2f} s, repaired file {duration:.2f} s")
        assert sent - 2.0 <= duration <= sent + 0.5, (recorded.track.codec, duration, sent)
        assert probe["streams"][0]["codec_name"] == recorded.track.codec.lower()
        assert recorded.status == "recovered" and recorded.started_at > 0
        assert stored.sha256 == recorded.sha256
    assert list((spool / "tracks").iterdir()) == [], "spool released once stored"


async def test_disk_full_partial_is_repaired_later(
    file_config: RecordingConfig, opus_5s: list[EncodedFrame]
) -> None:
    track = audio_track()
    recorder = TrackRecorder(
        track, file_config, key_prefix="s", open_file=lambda p: FillingFile(p, 30_000)
    )
    recorder.start()
    for frame in opus_5s:
        recorder.on_frame(track, frame)
    partial = await recorder.stop()
    assert partial is not None and not partial.finalized

    report = await recover_spool(file_config)  # no storage: repair only

    (repaired,) = report.recovered
    assert repaired.finalized and repaired.path.suffix == ".webm"
    assert not partial.path.exists()
    probe = ffprobe(repaired.path)
    assert int(probe["streams"][0]["nb_read_packets"]) == repaired.frames > 0
    assert json.loads(sidecar_path(repaired.path).read_bytes())["state"] == "finalized"


async def test_finalized_but_unstored_file_is_stored_at_start(
    file_config: RecordingConfig, vp8_5s: list[EncodedFrame]
) -> None:
    track = video_track()
    recorder = TrackRecorder(track, file_config, key_prefix="s")
    recorder.start()
    for frame in vp8_5s:
        recorder.on_frame(track, frame)
    recorded = await recorder.stop()
    assert recorded is not None  # ...and the process died before storing it

    report = await recover_spool(file_config, open_storage(file_config))

    assert report.pending == [recorded]
    ((_, stored),) = report.stored
    assert (stored.key, stored.sha256) == (recorded.key, recorded.sha256)


async def test_unreadable_partial_is_kept_aside(file_config: RecordingConfig) -> None:
    tracks = file_config.spool_dir / "tracks"
    tracks.mkdir(parents=True)
    (tracks / "x.webm.part").write_bytes(b"\x1aE\xdf\xa3 garbage")
    sidecar = {
        "version": 1,
        "state": "recording",
        "key": "s/x.webm",
        "track": {},
        "container": "webm",
        "started_at": 1.0,
    }
    (tracks / "x.json").write_text(json.dumps(sidecar))

    report = await recover_spool(file_config)

    assert list(report.failed) == [str(tracks / "x.json")]
    kept = file_config.spool_dir / "unrecoverable"
    assert sorted(p.name for p in kept.iterdir()) == ["x.json", "x.webm.part"]


async def test_sidecar_without_media_is_cleaned(file_config: RecordingConfig) -> None:
    tracks = file_config.spool_dir / "tracks"
    tracks.mkdir(parents=True)
    (tracks / "y.json").write_text(json.dumps({"state": "recording", "key": "s/y.webm"}))
    report = await recover_spool(file_config)
    assert not report.failed and not (tracks / "y.json").exists()
