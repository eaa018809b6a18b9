"""Blocking muxing of one track's encoded frames into Matroska/WebM with PyAV.

Frames are wrapped in `av.Packet`s and muxed as they are: nothing is decoded or re-encoded.
Matroska keeps the current cluster in memory and writes it out when it closes, so the
`cluster_time_limit` option bounds what a `kill -9` can lose; the file is written through
an unbuffered file object we own, so we can fsync it and see ENOSPC ourselves.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import av.container
import av.stream

from bridge import EncodedFrame, TrackInfo


class SpoolFile(Protocol):
    """What the muxer needs of its output file (a seekable binary file)."""

    def write(self, data: bytes, /) -> int | None: ...

    def seek(self, offset: int, whence: int = 0, /) -> int: ...

    def tell(self) -> int: ...

    def fileno(self) -> int: ...

    def close(self) -> None: ...


OpenFile = Callable[[Path], SpoolFile]


@dataclass(frozen=True, slots=True)
class CodecSpec:
    container: str  # FFmpeg muxer name
    extension: str
    codec: str  # FFmpeg codec name


CODECS: dict[str, CodecSpec] = {
    "vp8": CodecSpec("webm", ".webm", "vp8"),
    "vp9": CodecSpec("webm", ".webm", "vp9"),
    "opus": CodecSpec("webm", ".webm", "opus"),
    "h264": CodecSpec("matroska", ".mkv", "h264"),
}


def codec_spec(codec: str) -> CodecSpec:
    try:
        return CODECS[codec.lower()]
    except KeyError:
        raise ValueError(f"cannot record codec {codec!r}; known: {sorted(CODECS)}") from None


def open_exclusive(path: Path) -> SpoolFile:
    """Create the spool file; never reuse an existing one. Unbuffered: every write the
    muxer makes goes straight to the kernel, so it survives the death of the process."""
    return open(path, "xb", buffering=0)


def h264_dimensions(data: bytes) -> tuple[int, int] | None:
    """Width and height from the SPS of an Annex B keyframe, via FFmpeg's parser (which
    reads headers only; nothing is decoded)."""
    parser = av.CodecContext.create("h264", "r")
    parser.parse(data)
    parser.parse(None)  # flush: the parser reports a frame's headers once it has ended
    width, height = parser.width, parser.height
    return (int(width), int(height)) if width and height else None


def vp8_dimensions(data: bytes) -> tuple[int, int] | None:
    """Width and height from a VP8 keyframe header (RFC 6386, section 9.1), else None."""
    if len(data) < 10 or data[0] & 1 or data[3:6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(data[6:8], "little") & 0x3FFF
    height = int.from_bytes(data[8:10], "little") & 0x3FFF
    return width, height


def _unknown_dimensions(data: bytes) -> tuple[int, int]:
    return 0, 0


_DIMENSIONS: dict[str, Callable[[bytes], tuple[int, int] | None]] = {
    "vp8": vp8_dimensions,
    "h264": h264_dimensions,
}


class TrackMuxer:
    """One track into one file. Not thread-safe: one writer thread calls everything."""

    def __init__(
        self,
        path: Path,
        track: TrackInfo,
        *,
        metadata: dict[str, str],
        cluster_time_limit_ms: int,
        fsync_interval_s: float,
        open_file: OpenFile = open_exclusive,
    ) -> None:
        self.path = path
        self.track = track
        self.spec = codec_spec(track.codec)
        self.metadata = metadata
        self.cluster_time_limit_ms = cluster_time_limit_ms
        self.fsync_interval_s = fsync_interval_s
        self.open_file = open_file
        self.time_base = Fraction(1, track.clock_rate)
        self.first_ts: int | None = None
        self.last_ts = 0
        self.last_delta = 0
        self.frames = 0
        self.rejected = 0
        self._file: SpoolFile | None = None
        self._container: av.container.OutputContainer | None = None
        self._stream: av.stream.Stream | None = None
        self._last_sync = time.monotonic()

    @property
    def started(self) -> bool:
        return self._container is not None

    @property
    def duration_s(self) -> float:
        if self.first_ts is None:
            return 0.0
        return (self.last_ts - self.first_ts + self.last_delta) / self.track.clock_rate

    def write(self, frame: EncodedFrame) -> bool:
        """Mux one frame; False if it cannot start a file or goes back in time (dropped)."""
        if self._container is None and not self._open(frame):
            self.rejected += 1
            return False
        assert self._container is not None and self._stream is not None
        assert self.first_ts is not None
        if frame.timestamp < self.last_ts:
            self.rejected += 1
            return False
        if self.frames:
            self.last_delta = frame.timestamp - self.last_ts
        packet = av.Packet(frame.data)
        packet.pts = packet.dts = frame.timestamp - self.first_ts
        packet.time_base = self.time_base
        packet.stream = self._stream
        packet.is_keyframe = frame.keyframe or self.track.kind == "audio"
        self._container.mux_one(packet)
        self.last_ts = frame.timestamp
        self.frames += 1
        return True

    def _open(self, frame: EncodedFrame) -> bool:
        if self.track.kind == "video" and not frame.keyframe:
            return False  # a video file must begin with a keyframe
        dims = _DIMENSIONS.get(self.spec.codec, _unknown_dimensions)(frame.data)
        if dims is None:
            return False
        self._file = self.open_file(self.path)
        container = av.open(
            self._file,
            "w",
            format=self.spec.container,
            container_options={
                "cluster_time_limit": str(self.cluster_time_limit_ms),
                "flush_packets": "1",
            },
        )
        container.metadata.update(self.metadata)
        self._stream = self._add_stream(container, dims)
        self._container = container
        self.first_ts = self.last_ts = frame.timestamp
        return True

    def _add_stream(
        self, container: av.container.OutputContainer, dims: tuple[int, int]
    ) -> av.stream.Stream:
        if self.spec.codec == "opus":
            # Matroska needs an OpusHead in CodecPrivate; a libopus encoder context (never fed
            # a frame) writes a correct one. WebRTC Opus is always 48 kHz; a stereo header also
            # decodes mono packets (RFC 7587, section 7).
            return container.add_stream("libopus", rate=48000, layout="stereo")
        width, height = dims
        return container.add_mux_stream(
            self.spec.codec, width=width, height=height, time_base=self.time_base
        )

    def sync(self, force: bool = False) -> None:
        """fsync the file if the interval has passed (the kernel already has the bytes)."""
        now = time.monotonic()
        if self._file is not None and (force or now - self._last_sync >= self.fsync_interval_s):
            os.fsync(self._file.fileno())
            self._last_sync = now

    def close(self) -> None:
        """Write the trailer (cues, duration) and fsync; leaves the file closed either way."""
        try:
            if self._container is not None:
                self._container.close()
            self.sync(force=True)
        finally:
            self._container = None
            if self._file is not None:
                self._file.close()
                self._file = None

    def abandon(self) -> None:
        """Close after a write error without raising: what reached the file stays there."""
        try:
            self.close()
        except (OSError, av.error.FFmpegError):
            if self._file is not None:
                self._file.close()
                self._file = None
