"""A finalized track has a seek index (Matroska Cues) and a duration, and so has a file
repaired after a crash: seeking to the middle of a long file reads a small share of it (the
header, the index, one cluster), where a file without an index is read up to the point."""

from __future__ import annotations

import io
from pathlib import Path

import av

from recording.muxer import TrackMuxer
from recording.recovery import remux
from tests.recording.recmedia import ffprobe, video_track, vp8_frames

CUES_ID = b"\x1c\x53\xbb\x6b"  # the Cues element's EBML id


class CountingFile(io.RawIOBase):
    """A file that counts the bytes a reader takes from it."""

    def __init__(self, path: Path) -> None:
        self.f = path.open("rb")
        self.taken = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = self.f.readinto(buffer)
        self.taken += n or 0
        return n or 0

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.f.seek(offset, whence)

    def tell(self) -> int:
        return self.f.tell()

    def close(self) -> None:
        self.f.close()
        super().close()


def seek_share(path: Path, to_s: float) -> tuple[float, float]:
    """(share of the file read, time of the first packet) after opening it and seeking."""
    counting = CountingFile(path)
    with av.open(counting, "r", buffer_size=4096) as container:
        stream = container.streams.video[0]
        assert stream.time_base is not None
        container.seek(int(to_s / stream.time_base), stream=stream)
        packet = next(p for p in container.demux(stream) if p.pts is not None)
        assert packet.time_base is not None
        at = float(packet.pts * packet.time_base)  # type: ignore[operator]
    return counting.taken / path.stat().st_size, at


def _record(path: Path, seconds: float) -> None:
    muxer = TrackMuxer(
        path, video_track(), metadata={}, cluster_time_limit_ms=1000, fsync_interval_s=60
    )
    for frame in vp8_frames(seconds, width=160, height=120, gop=30):
        assert muxer.write(frame)
    muxer.close()


def test_finalized_and_repaired_files_seek_through_their_index(tmp_path: Path) -> None:
    whole = tmp_path / "track.webm"
    _record(whole, 90)
    data = whole.read_bytes()
    assert data.rfind(CUES_ID) > len(data) * 0.9  # the index, written by the trailer
    assert abs(float(ffprobe(whole)["format"]["duration"]) - 90) < 0.2

    share, at = seek_share(whole, 45)
    assert 44 <= at <= 46
    assert share < 0.15, f"a seek read {share:.0%} of the file"

    # A crash cuts the file: no trailer, so no index and no duration.
    cut = tmp_path / "track.webm.part"
    cut.write_bytes(data[: int(len(data) * 0.9)])
    assert cut.read_bytes().rfind(CUES_ID) < 1000  # only the header's reserved reference
    cut_share, _ = seek_share(cut, 45)
    assert cut_share > 0.4, "without an index the reader scans up to the point"

    # Repaired (as at start-up after a crash): an index and a duration again.
    fixed = tmp_path / "repaired.webm"
    result = remux(cut, fixed)
    assert result.packets > 0
    fixed_data = fixed.read_bytes()
    assert fixed_data.rfind(CUES_ID) > len(fixed_data) * 0.9
    assert abs(float(ffprobe(fixed)["format"]["duration"]) - result.duration_s) < 0.2
    share, at = seek_share(fixed, 45)
    assert 44 <= at <= 46
    assert share < 0.15, f"a seek in the repaired file read {share:.0%} of it"
