"""The kill test's child: records a VP8 and an Opus track in real time until killed.

Run as `python record_child.py SPOOL_DIR`; prints `sent SECONDS` (media time handed to the
recorders so far) as it goes, then `done` and waits to be killed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2]))

from bridge import EncodedFrame, TrackInfo
from recording.config import RecordingConfig
from recording.recorder import TrackRecorder
from tests.recording.recmedia import T0, audio_track, opus_frames, video_track, vp8_frames

SECONDS = 8.0


async def main(spool: Path) -> None:
    config = RecordingConfig(spool_dir=spool, storage_url="file:///unused")
    tracks: list[tuple[TrackInfo, list[EncodedFrame]]] = [
        (video_track(), vp8_frames(SECONDS)),
        (audio_track(), opus_frames(SECONDS)),
    ]
    recorders = {t.track_id: TrackRecorder(t, config, key_prefix="s-kill") for t, _ in tracks}
    for recorder in recorders.values():
        recorder.start()
    timeline = sorted(
        ((f.wallclock - T0, t, f) for t, frames in tracks for f in frames),
        key=lambda item: item[0],
    )
    loop = asyncio.get_running_loop()
    start = loop.time()
    reported = 0.0
    for offset, track, frame in timeline:
        delay = start + offset - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing like a live publisher, not a test wait
        recorders[track.track_id].on_frame(track, frame)
        if offset - reported >= 0.1:
            print(f"sent {offset:.3f}", flush=True)
            reported = offset
    print("done", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
