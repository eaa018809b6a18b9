"""A recorder that falls behind asks the publisher for a key frame.

WebRTC publishers send a key frame only when asked. The publisher here is a live VP8
encoder with a key frame only every 10 s unless asked (the way a browser behaves): a recorder
whose queue overflows drops to the next key frame and asks for it, so the file goes on, and
decodes, within 2 s of the gap. Without the request nothing is recorded until the next
periodic key frame; the same run without the callback shows it (the test can fail)."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest

from bridge import EncodedFrame, TrackInfo
from recording.config import RecordingConfig
from recording.recorder import TrackRecorder
from tests.recording.recmedia import video_track, wait_until

FPS = 15
GOP = 10 * FPS  # a periodic key frame every 10 s


class Publisher:
    """A live encoder: `frame()` is the next encoded frame; a key frame when asked."""

    def __init__(self) -> None:
        enc: Any = av.CodecContext.create("libvpx", "w")
        enc.width, enc.height, enc.pix_fmt = 160, 120, "yuv420p"
        enc.time_base = Fraction(1, 90000)
        enc.framerate = Fraction(FPS)
        enc.gop_size = GOP
        enc.options = {"deadline": "realtime", "cpu-used": "8"}
        self.enc = enc
        self.i = 0
        self.asked = False
        self.pending: list[EncodedFrame] = []

    def ask(self, track: TrackInfo) -> None:
        self.asked = True

    def frame(self) -> EncodedFrame:
        while not self.pending:
            picture = av.VideoFrame(160, 120, "yuv420p")
            for j, plane in enumerate(picture.planes):
                plane.update(bytes([(self.i * 3 + j * 50) % 256]) * plane.line_size * plane.height)
            picture.pts = self.i * (90000 // FPS)
            picture.time_base = self.enc.time_base
            if self.asked:
                picture.pict_type = av.video.frame.PictureType.I
                self.asked = False
            for p in self.enc.encode(picture):
                ts = p.pts or 0
                self.pending.append(EncodedFrame(bytes(p), ts, bool(p.is_keyframe), ts / 90000))
            self.i += 1
        return self.pending.pop(0)


def _decodes(path: Path) -> str:
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return done.stderr.strip()


@pytest.mark.parametrize("asks", [True, False], ids=["asks", "does-not-ask"])
async def test_a_recorder_that_falls_behind_resumes_within_two_seconds(
    tmp_path: Path, asks: bool
) -> None:
    publisher = Publisher()
    config = RecordingConfig(spool_dir=tmp_path, queue_frames=5, storage_url="file:///x")
    track = video_track()
    recorder = TrackRecorder(
        track, config, key_prefix="s", on_need_keyframe=publisher.ask if asks else None
    )
    recorder.start()
    for _ in range(FPS):  # one second, the writer keeping up
        recorder.on_frame(track, publisher.frame())
        await wait_until(lambda: recorder.queued == 0, "writer keeps up")
    for _ in range(20):  # a burst with no await: the queue overflows
        recorder.on_frame(track, publisher.frame())
    assert recorder.dropped > 0
    gap_from = publisher.i / FPS
    await wait_until(lambda: recorder.queued == 0, "writer drained the queue")
    for _ in range(4 * FPS):  # four more seconds, keeping up
        recorder.on_frame(track, publisher.frame())
        await wait_until(lambda: recorder.queued == 0, "writer keeps up")
    result = await recorder.stop()
    assert result is not None and _decodes(result.path) == ""

    with av.open(str(result.path)) as f:
        video = f.streams.video[0]
        assert video.time_base is not None
        stamps = [float(p.pts * video.time_base) for p in f.demux(video) if p.pts is not None]
    after = [t for t in stamps if t >= gap_from - 1e-3]  # recorded after the burst
    gap = (min(after) if after else float("inf")) - gap_from
    if asks:
        assert recorder.keyframes_asked > 0
        assert gap < 2.0, f"the recording resumed {gap:.2f} s after the gap"
    else:  # the next periodic key frame is 10 s away: nothing recorded in these 4 s
        assert gap > 4.0, f"without asking, the recording resumed after {gap:.2f} s"


async def test_a_recorder_started_mid_stream_asks_and_begins_at_once(tmp_path: Path) -> None:
    """Recording starts while the publisher is between key frames (as when recording is
    started during a session): the recorder asks, and the file begins with the next
    frame the publisher makes, decodable, instead of up to 10 s later."""
    publisher = Publisher()
    for _ in range(2 * FPS):  # two seconds of the session before recording starts
        publisher.frame()
    config = RecordingConfig(spool_dir=tmp_path, queue_frames=30, storage_url="file:///x")
    track = video_track()
    recorder = TrackRecorder(track, config, key_prefix="s", on_need_keyframe=publisher.ask)
    recorder.start()
    fed = 2 * FPS
    for _ in range(fed):
        recorder.on_frame(track, publisher.frame())
        await wait_until(lambda: recorder.queued == 0, "writer keeps up")
    result = await recorder.stop()
    assert recorder.keyframes_asked >= 1
    assert result is not None and _decodes(result.path) == ""
    with av.open(str(result.path)) as f:
        recorded = sum(1 for p in f.demux(f.streams.video[0]) if p.pts is not None)
    # Only the frame that asked (and any the encoder had in flight) is missing; without
    # asking, nothing at all would be recorded before the periodic key frame 10 s away.
    assert recorded >= fed - 2, f"{recorded} of {fed} frames recorded"
