"""Track recorders: bridge subscribers that write each track to its own spool file.

A `TrackRecorder` is just another `FrameSubscriber` (galene's diskwriter is the model):
`on_frame` never blocks the forwarding path; it puts the frame in a bounded queue, and when
that is full it counts a drop and, for video, drops on to the next keyframe. One writer task
per recorder drains the queue in batches into a single-thread executor that owns the PyAV
muxer: it wakes when a frame arrives in an empty queue, lets frames gather for a short window
(`BATCH_WINDOW_S`, cut short by a full batch or by stopping) and hands them over at once, so
the cost of a wake-up and a thread hand-off is paid per batch, not per frame. Beside each
spool file a small JSON sidecar says what it is (track, storage key, first frame's
wall-clock), so `recovery.recover_spool` can repair and finish it after a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import json
import logging
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import av.error

from bridge import EncodedFrame, TrackInfo
from recording.config import RecordingConfig
from recording.fsutil import atomic_write_bytes, fsync_dir, sha256_file
from recording.manifest import ManifestFile, iso_utc
from recording.muxer import OpenFile, TrackMuxer, codec_spec, open_exclusive
from recording.storage import Storage, StoredObject, check_key

KeyframeCallback = Callable[[TrackInfo], None]
RecordingStatus = Literal["complete", "disk_full", "io_error", "recovered"]
FailureReason = Literal["disk_full", "io_error"]
PART_SUFFIX = ".part"
SIDECAR_SUFFIX = ".json"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_BATCH = 64
# How long frames gather before a hand-off to the writer thread. Small beside the Matroska
# cluster limit (1 s), so what was received up to 2 s before a kill -9 is still in the file.
BATCH_WINDOW_S = 0.08


@dataclass(frozen=True, slots=True)
class RecordedFile:
    """A finished (or, after a write failure, interrupted) track file in the spool."""

    path: Path
    key: str  # where it goes in the store
    track: TrackInfo
    container: str
    size: int
    sha256: str
    duration_s: float
    started_at: float  # UNIX time of the first frame's arrival
    frames: int
    dropped: int
    status: RecordingStatus
    finalized: bool  # False: a partial file waiting for `recover_spool` to repair it

    def manifest_entry(self) -> ManifestFile:
        return ManifestFile(
            key=self.key,
            sha256=self.sha256,
            size=self.size,
            duration_ms=round(self.duration_s * 1000),
            codec=self.track.codec,
            track_id=self.track.track_id,
            kind=self.track.kind,
            source=self.track.source,
            participant_id=self.track.participant_id,
            endpoint_id=self.track.endpoint_id,
            started_at=iso_utc(self.started_at),
        )


@dataclass(frozen=True, slots=True)
class TrackRecorderStats:
    """What one track's recorder has done so far (`TrackRecorder.stats`, read by /metrics)."""

    track: TrackInfo
    queued: int  # frames waiting for the writer thread
    dropped: int  # frames not written: queue full, waiting for a key frame, unusable
    frames: int  # frames written to the file
    written_bytes: int  # encoded frame bytes handed to the muxer (the file adds its framing)
    keyframes_asked: int


@dataclass(frozen=True, slots=True)
class RecordingFailure:
    """Told to the `on_failure` callback (and so to the chair) when a recorder must stop."""

    track: TrackInfo
    reason: FailureReason
    error: OSError
    path: Path


FailureCallback = Callable[[RecordingFailure], None]


def spool_tracks_dir(config: RecordingConfig) -> Path:
    return config.spool_dir / "tracks"


def safe_name(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("._") or "_"


def write_sidecar(media: Path, data: dict[str, Any]) -> None:
    atomic_write_bytes(sidecar_path(media), json.dumps(data, indent=1).encode())


def sidecar_path(media: Path) -> Path:
    name = media.name.removesuffix(PART_SUFFIX)
    return media.with_name(name + SIDECAR_SUFFIX)


def track_to_dict(track: TrackInfo) -> dict[str, Any]:
    return asdict(track)


def track_from_dict(raw: dict[str, Any]) -> TrackInfo:
    return TrackInfo(**raw)


class TrackRecorder:
    """Records one track. `start()`, feed it frames, `await stop()` for the `RecordedFile`."""

    def __init__(
        self,
        track: TrackInfo,
        config: RecordingConfig,
        *,
        key_prefix: str,
        logger: logging.Logger | None = None,
        on_failure: FailureCallback | None = None,
        open_file: OpenFile = open_exclusive,
        batch_window_s: float = BATCH_WINDOW_S,
        on_need_keyframe: KeyframeCallback | None = None,
    ) -> None:
        self.track = track
        # Asked when video frames are dropped while waiting for a key frame (a recording that
        # fell behind, or that began mid-stream): WebRTC publishers send one only when asked.
        # The publisher's track rate-limits the requests (bridge/forwarding.py).
        self.on_need_keyframe = on_need_keyframe
        self.keyframes_asked = 0
        self.batch_window_s = batch_window_s
        self.config = config
        self.key_prefix = check_key(key_prefix.strip("/"))
        self.log = logger or logging.getLogger(__name__)
        self.on_failure = on_failure
        self.open_file = open_file
        self.spec = codec_spec(track.codec)
        self.dropped = 0  # counted on the event loop (queue full, waiting for a keyframe)
        self._rejected = 0  # counted in the writer thread (unusable or malformed frames)
        self._written_bytes = 0  # counted in the writer thread, read on the loop (an int)
        self._queue: asyncio.Queue[EncodedFrame] = asyncio.Queue(config.queue_frames)
        self._wake = asyncio.Event()
        self._closing = False
        self._need_keyframe = track.kind == "video"
        self._task: asyncio.Task[RecordedFile | None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._muxer: TrackMuxer | None = None
        self._failure: RecordingFailure | None = None

    def start(self) -> None:
        """Start the writer task (on the running loop); the file opens at the first usable frame."""
        if self._task is not None:
            raise RuntimeError(f"recorder for track {self.track.track_id} already started")
        spool_tracks_dir(self.config).mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"rec-{self.track.track_id}")
        self._task = asyncio.create_task(self._run(), name=f"recorder {self.track.track_id}")

    @property
    def total_dropped(self) -> int:
        return self.dropped + self._rejected

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def stats(self) -> TrackRecorderStats:
        muxer = self._muxer
        return TrackRecorderStats(
            track=self.track,
            queued=self._queue.qsize(),
            dropped=self.total_dropped,
            frames=0 if muxer is None else muxer.frames,
            written_bytes=self._written_bytes,
            keyframes_asked=self.keyframes_asked,
        )

    def on_frame(self, track: TrackInfo, frame: EncodedFrame) -> None:
        if self._closing or track.track_id != self.track.track_id:
            return
        if self._need_keyframe and not frame.keyframe:
            self.dropped += 1
            self._ask_keyframe()
            return
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            # Behind: drop, and for video everything up to the next keyframe (a decoder
            # cannot use frames that depend on a dropped one), which is asked for at once.
            self.dropped += 1
            self._need_keyframe = self.track.kind == "video"
            self._ask_keyframe()
            return
        self._need_keyframe = False
        # Wake the writer only when the queue was empty (it sleeps) or a batch is full (it
        # lingers); the frames between ride along with the batch.
        if self._queue.qsize() in (1, _BATCH):
            self._wake.set()

    def _ask_keyframe(self) -> None:
        if self.on_need_keyframe is not None and self.track.kind == "video":
            self.keyframes_asked += 1
            self.on_need_keyframe(self.track)

    def on_track_ended(self, track: TrackInfo) -> None:
        if track.track_id == self.track.track_id:
            self._closing = True
            self._wake.set()

    async def stop(self) -> RecordedFile | None:
        """Write what is queued, finalize and hash the file. None if no frame was recorded."""
        self._closing = True
        self._wake.set()
        if self._task is None:
            return None
        try:
            return await self._task
        finally:
            if not self._task.done():  # stop() itself was cancelled
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
            if self._executor is not None:
                self._executor.shutdown(wait=False)

    def write_prepared(self, frames: Iterable[EncodedFrame]) -> RecordedFile | None:
        """Write frames made beforehand (the sample archive, the replay benchmark) straight
        through, in the calling thread, with no queue to drop from: the file is named,
        tagged, finalized and hashed exactly as a live recording's. Not with `start()`."""
        if self._task is not None:
            raise RuntimeError(f"recorder for track {self.track.track_id} is live")
        spool_tracks_dir(self.config).mkdir(parents=True, exist_ok=True)
        pending = iter(frames)
        while self._failure is None and (batch := list(itertools.islice(pending, _BATCH))):
            self._write_batch(batch)
        return self._finish()

    async def _run(self) -> RecordedFile | None:
        loop = asyncio.get_running_loop()
        while self._failure is None:
            if self._queue.empty():
                if self._closing:
                    break
                self._wake.clear()
                await self._wake.wait()
                continue
            await self._linger()
            batch = [self._queue.get_nowait() for _ in range(self._queue.qsize())]
            await loop.run_in_executor(self._executor, self._write_batch, batch)
        result = await loop.run_in_executor(self._executor, self._finish)
        if self._failure is not None and self.on_failure is not None:
            self.on_failure(self._failure)
        return result

    async def _linger(self) -> None:
        """Let frames gather for up to `batch_window_s`; a full batch or stop() cuts it short."""
        if self._closing or self._queue.qsize() >= _BATCH or self.batch_window_s <= 0:
            return
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.batch_window_s)

    # --- everything below runs in the recorder's own thread ---

    def _write_batch(self, batch: list[EncodedFrame]) -> None:
        for frame in batch:
            try:
                self._write(frame)
            except OSError as exc:
                self._fail(exc)
                return
            except (ValueError, av.error.FFmpegError) as exc:
                # A malformed frame is dropped (STYLE 8); the first one is worth a warning.
                level = logging.WARNING if not self._rejected else logging.DEBUG
                self._rejected += 1
                self.log.log(level, "track %s: frame dropped: %s", self.track.track_id, exc)
        if self._muxer is not None:
            try:
                self._muxer.sync()
            except OSError as exc:
                self._fail(exc)

    def _write(self, frame: EncodedFrame) -> None:
        if self._muxer is None:
            if self.track.kind == "video" and not frame.keyframe:
                self._rejected += 1
                return
            self._muxer = self._new_muxer(frame)
        if self._muxer.write(frame):
            self._written_bytes += len(frame.data)
        else:
            self._rejected += 1

    def _new_muxer(self, first: EncodedFrame) -> TrackMuxer:
        stamp = datetime.fromtimestamp(first.wallclock, UTC).strftime("%Y%m%dT%H%M%S%fZ")
        who = self.track.endpoint_id if self.track.endpoint_id is not None else "p"
        name = safe_name(f"{self.track.source}-{who}-{self.track.track_id}-{stamp}")
        final = spool_tracks_dir(self.config) / (name + self.spec.extension)
        path = final.with_name(final.name + PART_SUFFIX)
        sidecar = {
            "version": 1,
            "state": "recording",
            "key": f"{self.key_prefix}/{final.name}",
            "track": track_to_dict(self.track),
            "container": self.spec.container,
            "started_at": first.wallclock,
        }
        write_sidecar(final, sidecar)
        metadata = {
            "creation_time": iso_utc(first.wallclock),
            "TIEPDAN_TRACK_ID": self.track.track_id,
            "TIEPDAN_ROOM_ID": self.track.room_id,
            "TIEPDAN_STARTED_AT": repr(first.wallclock),
        }
        return TrackMuxer(
            path,
            self.track,
            metadata=metadata,
            cluster_time_limit_ms=self.config.cluster_time_limit_ms,
            fsync_interval_s=self.config.fsync_interval_s,
            open_file=self.open_file,
        )

    def _fail(self, exc: OSError) -> RecordingFailure:
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        reason: FailureReason = "disk_full" if full else "io_error"
        path = self._muxer.path if self._muxer is not None else spool_tracks_dir(self.config)
        self.log.error("track %s: recording stopped (%s): %s", self.track.track_id, reason, exc)
        self._failure = RecordingFailure(self.track, reason, exc, path)
        self._closing = True
        return self._failure

    def _finish(self) -> RecordedFile | None:
        muxer = self._muxer
        if muxer is None or not muxer.started:
            return None
        failure = self._failure
        if failure is None:
            try:
                muxer.close()
                return finalize_file(muxer.path, muxer.duration_s, muxer.frames, self.total_dropped)
            except OSError as exc:  # the disk filled up just as we wrote the trailer
                failure = self._fail(exc)
        # After a write error: keep everything that reached the disk as a partial file;
        # `recover_spool` remuxes it once there is room again.
        muxer.abandon()
        sidecar = json.loads(sidecar_path(muxer.path).read_bytes())
        size, digest = sha256_file(muxer.path)
        return RecordedFile(
            path=muxer.path,
            key=sidecar["key"],
            track=self.track,
            container=self.spec.container,
            size=size,
            sha256=digest,
            duration_s=muxer.duration_s,
            started_at=float(sidecar["started_at"]),
            frames=muxer.frames,
            dropped=self.total_dropped,
            status=failure.reason,
            finalized=False,
        )


def finalize_file(
    part: Path,
    duration_s: float,
    frames: int,
    dropped: int,
    status: RecordingStatus = "complete",
) -> RecordedFile:
    """Hash a closed spool file, give it its final name and mark its sidecar finalized."""
    final = part.with_name(part.name.removesuffix(PART_SUFFIX))
    sidecar = json.loads(sidecar_path(final).read_bytes())
    size, digest = sha256_file(part)
    sidecar.update(
        state="finalized",
        size=size,
        sha256=digest,
        duration_s=duration_s,
        frames=frames,
        dropped=dropped,
        status=status,
    )
    write_sidecar(final, sidecar)
    if part != final:
        part.rename(final)
        fsync_dir(final.parent)
    return recorded_from_sidecar(final, sidecar)


def recorded_from_sidecar(final: Path, sidecar: dict[str, Any]) -> RecordedFile:
    return RecordedFile(
        path=final,
        key=str(sidecar["key"]),
        track=track_from_dict(sidecar["track"]),
        container=str(sidecar["container"]),
        size=int(sidecar["size"]),
        sha256=str(sidecar["sha256"]),
        duration_s=float(sidecar["duration_s"]),
        started_at=float(sidecar["started_at"]),
        frames=int(sidecar["frames"]),
        dropped=int(sidecar["dropped"]),
        status=sidecar["status"],
        finalized=True,
    )


async def store_recording(storage: Storage, recorded: RecordedFile) -> StoredObject:
    """Hand a finalized file to the store; its spool copy and sidecar go once verified."""
    if not recorded.finalized:
        raise ValueError(f"{recorded.path} is a partial file: run recover_spool first")
    stored = await storage.store_file(recorded.path, recorded.key, sha256=recorded.sha256)
    if not storage.config.keep_local_after_upload:
        await asyncio.to_thread(sidecar_path(recorded.path).unlink, missing_ok=True)
    return stored


class SessionRecorder:
    """One subscriber for all of a room's tracks: a `TrackRecorder` per track, made on the
    track's first frame. `stop()` returns every file recorded, including ended tracks'."""

    def __init__(
        self,
        config: RecordingConfig,
        *,
        key_prefix: str,
        logger: logging.Logger | None = None,
        on_failure: FailureCallback | None = None,
        on_need_keyframe: KeyframeCallback | None = None,
    ) -> None:
        self.config = config
        self.key_prefix = key_prefix
        self.on_need_keyframe = on_need_keyframe
        self.log = logger or logging.getLogger(__name__)
        self.on_failure = on_failure
        self._live: dict[str, TrackRecorder] = {}
        self._ended: list[TrackRecorder] = []
        self._ignored: set[str] = set()
        self._stopped = False

    def on_frame(self, track: TrackInfo, frame: EncodedFrame) -> None:
        if self._stopped or track.track_id in self._ignored:
            return
        recorder = self._live.get(track.track_id)
        if recorder is None:
            try:
                recorder = TrackRecorder(
                    track,
                    self.config,
                    key_prefix=self.key_prefix,
                    logger=self.log,
                    on_failure=self.on_failure,
                    on_need_keyframe=self.on_need_keyframe,
                )
            except ValueError as exc:  # a codec we cannot record
                self.log.warning("track %s not recorded: %s", track.track_id, exc)
                self._ignored.add(track.track_id)
                return
            recorder.start()
            self._live[track.track_id] = recorder
        recorder.on_frame(track, frame)

    def stats(self) -> tuple[TrackRecorderStats, ...]:
        """Each track still being written: the live ones, and ended ones not yet finished."""
        recorders = [*self._live.values(), *(r for r in self._ended if r.running)]
        return tuple(r.stats() for r in recorders)

    def on_track_ended(self, track: TrackInfo) -> None:
        recorder = self._live.pop(track.track_id, None)
        if recorder is not None:
            recorder.on_track_ended(track)
            self._ended.append(recorder)

    async def stop(self) -> list[RecordedFile]:
        self._stopped = True
        recorders = [*self._ended, *self._live.values()]
        self._live.clear()
        results = await asyncio.gather(*(r.stop() for r in recorders))
        return [r for r in results if r is not None]
