"""Composite export: a session's track files rendered into one MP4 (H.264 + AAC, faststart).

The layout follows the recorded floor changes: the floor-holder's screen share, else camera,
large on top; every endpoint's camera in a fixed thumbnail slot along the bottom (hidden while
it is the large picture); all audio mixed. Tracks are placed on one timeline by the wall-clock
time of their first frame; where nothing was recorded the picture is black and the sound silent.

ffmpeg does the work, as a `nice`d subprocess with bounded threads, off the live path: an
`ExportQueue` runs at most `max_concurrent` renders at once. Each large-picture segment is its
own ffmpeg input, opened with `-ss`/`-t` on the segment's window: a trim filter on one shared
decode would make ffmpeg buffer every decoded frame of the other branches until the segment
begins (gigabytes for a long session). The output is written under a temporary name and linked
to its final name only once ffmpeg has finished it; an existing file is never replaced.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import shutil
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bridge import TrackKind, TrackSource
from recording.errors import RecordingError
from recording.fsutil import fsync_dir
from recording.recorder import RecordedFile

ExportState = Literal["queued", "running", "done", "failed", "cancelled"]
ProgressCallback = Callable[[float], None]
_EPS = 1e-3  # seconds: shorter windows are not worth an input
_TAIL_LINES = 12


class ExportError(RecordingError):
    """An export could not be rendered; the message says why (an input, ffmpeg's last words)."""


class ExportCancelled(ExportError):
    """The export was cancelled before it finished; no output file was left behind."""


@dataclass(frozen=True, slots=True)
class ExportConfig:
    """How exports are rendered and how much of the machine they may take."""

    width: int = 1280
    height: int = 720
    fps: int = 25
    preset: str = "ultrafast"  # libx264 preset; "veryfast" halves the speed
    crf: int = 26
    audio_bitrate: str = "96k"
    threads: int = 2  # encoder threads
    decoder_threads: int = 1  # per input
    filter_threads: int = 1
    nice: int = 10  # 0: do not renice
    max_concurrent: int = 1
    ffmpeg: str = "ffmpeg"
    ffprobe: str = "ffprobe"

    def __post_init__(self) -> None:
        for name in ("width", "height", "fps", "threads", "decoder_threads", "filter_threads"):
            if getattr(self, name) <= 0:
                raise ValueError(f"export {name} must be positive, got {getattr(self, name)}")
        if self.width % 2 or self.height % 2:
            raise ValueError(f"export size must be even, got {self.width}x{self.height}")
        if self.max_concurrent < 1:
            raise ValueError(f"export max_concurrent must be >= 1, got {self.max_concurrent}")


@dataclass(frozen=True, slots=True)
class ExportTrack:
    """One recorded track file and where it sits on the session's timeline."""

    path: Path
    endpoint_id: int | None
    kind: TrackKind
    source: TrackSource
    started_at: float  # UNIX time of the first frame
    duration_s: float | None = None  # None: ask ffprobe

    @classmethod
    def from_recorded(cls, recorded: RecordedFile) -> ExportTrack:
        track = recorded.track
        return cls(
            path=recorded.path,
            endpoint_id=track.endpoint_id,
            kind=track.kind,
            source=track.source,
            started_at=recorded.started_at,
            duration_s=recorded.duration_s,
        )


@dataclass(frozen=True, slots=True)
class FloorChange:
    """From `at` (UNIX time) the floor is `endpoint_id`'s; None gives it back to the chair."""

    at: float
    endpoint_id: int | None


@dataclass(frozen=True, slots=True)
class ExportSpec:
    """What to render: a whole session, or the range [start, end) of one case (UNIX times)."""

    tracks: tuple[ExportTrack, ...]
    floor: tuple[FloorChange, ...] = ()
    central_endpoint_id: int | None = None
    start: float | None = None
    end: float | None = None


# --- planning: pure functions from a spec (and the tracks' durations) to an ffmpeg command ---


@dataclass(frozen=True, slots=True)
class Window:
    """An ffmpeg input: `length_s` of `track` from `seek_s` into its file, placed at
    `at_s` on the export's timeline."""

    track: ExportTrack
    seek_s: float
    length_s: float
    at_s: float


@dataclass(frozen=True, slots=True)
class MainSegment:
    start_s: float
    end_s: float
    track: ExportTrack


@dataclass(frozen=True, slots=True)
class Slot:
    """A thumbnail position and the camera windows shown in it, with when each is hidden."""

    x: int
    y: int
    width: int
    height: int
    windows: tuple[tuple[Window, tuple[tuple[float, float], ...]], ...]


@dataclass(frozen=True, slots=True)
class ExportPlan:
    origin: float  # UNIX time of the export's t=0
    duration_s: float
    main: tuple[Window, ...]
    main_box: tuple[int, int]
    slots: tuple[Slot, ...]
    audio: tuple[Window, ...]
    segments: tuple[MainSegment, ...] = field(default=())


def window(track: ExportTrack, offset: float, duration: float, a: float, b: float) -> Window | None:
    """The part of a track (starting at `offset` on the timeline) inside [a, b)."""
    start, end = max(a, offset), min(b, offset + duration)
    if end - start <= _EPS:
        return None
    return Window(track, start - offset, end - start, start)


def floor_intervals(
    floor: Sequence[FloorChange], central: int | None, origin: float, duration: float
) -> list[tuple[float, float, int | None]]:
    """Who holds the floor over [0, duration): the chair (central) until the first change."""
    holder, since = central, 0.0
    out: list[tuple[float, float, int | None]] = []
    for change in sorted(floor, key=lambda c: c.at):
        t = min(max(change.at - origin, 0.0), duration)
        new = change.endpoint_id if change.endpoint_id is not None else central
        if t > since and new != holder:
            out.append((since, t, holder))
            since = t
        holder = new
    if duration > since:
        out.append((since, duration, holder))
    return out


def main_segments(
    intervals: Sequence[tuple[float, float, int | None]],
    spans: dict[ExportTrack, tuple[float, float]],
) -> list[MainSegment]:
    """The large picture: the holder's screen share where there is one, else its camera
    (the most recently started file if several overlap); nothing where it has neither."""
    out: list[MainSegment] = []
    for a, b, holder in intervals:
        mine = [t for t in spans if t.kind == "video" and t.endpoint_id == holder]
        cuts = sorted({a, b, *(x for t in mine for x in spans[t] if a < x < b)})
        for x, y in itertools.pairwise(cuts):
            mid = (x + y) / 2
            showing = [t for t in mine if spans[t][0] <= mid < spans[t][1]]
            if not showing:
                continue
            best = max(showing, key=lambda t: (t.source == "screen", spans[t][0]))
            if out and out[-1].track == best and abs(out[-1].end_s - x) < _EPS:
                out[-1] = MainSegment(out[-1].start_s, y, best)
            else:
                out.append(MainSegment(x, y, best))
    return out


def plan_export(spec: ExportSpec, durations: dict[Path, float], config: ExportConfig) -> ExportPlan:
    if not spec.tracks:
        raise ExportError("nothing to export: no tracks")
    first = min(t.started_at for t in spec.tracks)
    last = max(t.started_at + durations[t.path] for t in spec.tracks)
    origin = spec.start if spec.start is not None else first
    end = spec.end if spec.end is not None else last
    if end - origin <= _EPS:
        raise ExportError(f"empty export range [{origin}, {end})")
    duration = end - origin
    spans = {
        t: (t.started_at - origin, t.started_at - origin + durations[t.path]) for t in spec.tracks
    }
    intervals = floor_intervals(spec.floor, spec.central_endpoint_id, origin, duration)
    segments = main_segments(intervals, spans)
    main = tuple(
        w
        for s in segments
        if (w := window(s.track, spans[s.track][0], durations[s.track.path], s.start_s, s.end_s))
    )
    audio = tuple(
        w
        for t in spec.tracks
        if t.kind == "audio" and (w := window(t, spans[t][0], durations[t.path], 0, duration))
    )
    main_box, slots = _slots(spec, spans, durations, segments, duration, config)
    return ExportPlan(origin, duration, main, main_box, slots, audio, tuple(segments))


def _slots(
    spec: ExportSpec,
    spans: dict[ExportTrack, tuple[float, float]],
    durations: dict[Path, float],
    segments: Sequence[MainSegment],
    duration: float,
    config: ExportConfig,
) -> tuple[tuple[int, int], tuple[Slot, ...]]:
    """One thumbnail slot per endpoint with a camera, the central endpoint first, in a strip
    a quarter of the height along the bottom; the large picture gets the rest."""
    cameras = [t for t in spec.tracks if t.kind == "video" and t.source == "camera"]
    central = spec.central_endpoint_id
    owners = sorted(
        {t.endpoint_id for t in cameras},
        key=lambda e: (e != central, e is None, e if e is not None else 0),
    )
    if not owners:
        return (config.width, config.height), ()
    thumb_h = _even(config.height // 4)
    thumb_w = min(_even(thumb_h * 16 // 9), _even(config.width // len(owners)))
    thumb_h = min(thumb_h, _even(thumb_w * 9 // 16))
    x0 = (config.width - thumb_w * len(owners)) // 2
    y = config.height - thumb_h
    slots = []
    for i, owner in enumerate(owners):
        shown = []
        for t in cameras:
            if t.endpoint_id != owner:
                continue
            w = window(t, spans[t][0], durations[t.path], 0, duration)
            if w is not None:
                hidden = tuple((s.start_s, s.end_s) for s in segments if s.track == t)
                shown.append((w, hidden))
        slots.append(Slot(x0 + i * thumb_w, y, thumb_w, thumb_h, tuple(shown)))
    return (config.width, config.height - thumb_h), tuple(slots)


def _even(n: int) -> int:
    return max(2, n - n % 2)


def _input_args(w: Window, config: ExportConfig) -> list[str]:
    args = ["-threads", str(config.decoder_threads)]
    if w.seek_s > _EPS:
        args += ["-ss", f"{w.seek_s:.3f}"]
    return [*args, "-t", f"{w.length_s:.3f}", "-i", str(w.track.path)]


def build_command(plan: ExportPlan, config: ExportConfig, output: Path) -> list[str]:
    """The ffmpeg command line (without `nice`) that renders `plan` into `output` (MP4)."""
    args = [config.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    graph: list[str] = [
        f"color=c=black:s={config.width}x{config.height}:r={config.fps}"
        f":d={plan.duration_s:.3f},format=yuv420p[v0]"
    ]
    n = 0  # inputs so far
    video = "v0"

    def overlay(src: Window, scale: str, x: str, y: str, enable: str) -> None:
        nonlocal n, video
        args.extend(_input_args(src, config))
        graph.append(
            f"[{n}:v:0]setpts=PTS+{src.at_s:.3f}/TB,"
            f"scale={scale}:force_original_aspect_ratio=decrease:force_divisible_by=2[s{n}]"
        )
        graph.append(
            f"[{video}][s{n}]overlay=x={x}:y={y}:eof_action=pass:format=yuv420{enable}[v{n + 1}]"
        )
        video = f"v{n + 1}"
        n += 1

    for slot in plan.slots:
        for w, hidden in slot.windows:
            enable = ""
            if hidden:
                shown = "+".join(f"between(t,{a:.3f},{b:.3f})" for a, b in hidden)
                enable = f":enable='not({shown})'"
            overlay(
                w,
                f"{slot.width}:{slot.height}",
                f"{slot.x}+({slot.width}-overlay_w)/2",
                f"{slot.y}+({slot.height}-overlay_h)/2",
                enable,
            )
    mw, mh = plan.main_box
    for w in plan.main:
        overlay(w, f"{mw}:{mh}", f"({mw}-overlay_w)/2", f"({mh}-overlay_h)/2", "")
    mixed = ["sil"]
    graph.append(f"anullsrc=r=48000:cl=stereo,atrim=duration={plan.duration_s:.3f}[sil]")
    for w in plan.audio:
        args.extend(_input_args(w, config))
        graph.append(
            f"[{n}:a:0]asetpts=PTS+{w.at_s:.3f}/TB,aresample=48000:async=1:first_pts=0,"
            f"aformat=sample_fmts=fltp:channel_layouts=stereo[a{n}]"
        )
        mixed.append(f"a{n}")
        n += 1
    labels = "".join(f"[{m}]" for m in mixed)
    graph.append(
        f"{labels}amix=inputs={len(mixed)}:duration=first:dropout_transition=0:normalize=0[aout]"
    )
    return [
        *args,
        "-filter_complex",
        ";".join(graph),
        "-filter_complex_threads",
        str(config.filter_threads),
        "-map",
        f"[{video}]",
        "-map",
        "[aout]",
        "-t",
        f"{plan.duration_s:.3f}",
        "-c:v",
        "libx264",
        "-preset",
        config.preset,
        "-crf",
        str(config.crf),
        "-pix_fmt",
        "yuv420p",
        "-g",
        str(config.fps * 2),
        "-threads",
        str(config.threads),
        "-c:a",
        "aac",
        "-b:a",
        config.audio_bitrate,
        "-movflags",
        "+faststart",
        "-progress",
        "pipe:1",
        "-nostats",
        "-f",
        "mp4",
        str(output),
    ]


# --- running ffmpeg ---


async def render_export(
    spec: ExportSpec,
    output: Path,
    config: ExportConfig,
    *,
    on_progress: ProgressCallback | None = None,
    logger: logging.Logger | None = None,
) -> Path:
    """Render `spec` into `output` (which must not exist); progress goes 0..1 to `on_progress`.

    Cancelling the awaiting task kills ffmpeg and removes the partial file.
    """
    log = logger or logging.getLogger(__name__)
    await asyncio.to_thread(_check_paths, spec, output)
    durations = await _durations(spec.tracks, config)
    plan = plan_export(spec, durations, config)
    tmp = output.with_name(f".{output.name}.{uuid.uuid4().hex[:8]}.part")
    cmd = build_command(plan, config, tmp)
    log.info("export %s: %.1f s, %d inputs", output.name, plan.duration_s, _inputs(plan))
    try:
        await run_ffmpeg(_niced(cmd, config), plan.duration_s, on_progress)
        await asyncio.to_thread(_publish, tmp, output)
    finally:
        await asyncio.to_thread(tmp.unlink, missing_ok=True)
    if on_progress is not None:
        on_progress(1.0)
    return output


def _check_paths(spec: ExportSpec, output: Path) -> None:
    if output.exists():
        raise ExportError(f"export output {output} already exists")
    missing = [str(t.path) for t in spec.tracks if not t.path.is_file()]
    if missing:
        raise ExportError(f"export input missing: {', '.join(missing)}")
    output.parent.mkdir(parents=True, exist_ok=True)


def _inputs(plan: ExportPlan) -> int:
    return len(plan.main) + len(plan.audio) + sum(len(s.windows) for s in plan.slots)


def _niced(cmd: list[str], config: ExportConfig) -> list[str]:
    nice = shutil.which("nice") if config.nice > 0 else None
    return [nice, "-n", str(config.nice), *cmd] if nice else cmd


def _publish(tmp: Path, output: Path) -> None:
    """fsync the finished file and give it its name; `link` refuses to replace a file."""
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    try:
        os.link(tmp, output)
    except FileExistsError:
        raise ExportError(f"export output {output} appeared while rendering") from None
    fsync_dir(output.parent)


async def _durations(tracks: Sequence[ExportTrack], config: ExportConfig) -> dict[Path, float]:
    out = {t.path: t.duration_s for t in tracks if t.duration_s is not None}
    for t in tracks:
        if t.path not in out:
            out[t.path] = await probe_duration(t.path, config)
    return out


async def probe_duration(path: Path, config: ExportConfig) -> float:
    """A media file's duration in seconds, from ffprobe."""
    proc = await asyncio.create_subprocess_exec(
        config.ffprobe,
        "-v",
        "error",
        "-show_entries",
        "format=duration",
        "-of",
        "default=nw=1:nk=1",
        str(path),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    try:
        return float(out.decode().strip())
    except ValueError:
        detail = err.decode(errors="replace").strip() or out.decode(errors="replace").strip()
        raise ExportError(f"cannot read the duration of {path}: {detail}") from None


async def run_ffmpeg(
    cmd: Sequence[str], duration_s: float, on_progress: ProgressCallback | None
) -> None:
    """Run ffmpeg with `-progress pipe:1`; raise ExportError with its last stderr lines if
    it fails. Cancelling kills it (and waits for it)."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise ExportError(f"cannot start {cmd[0]}: {exc}") from exc
    assert proc.stdout is not None and proc.stderr is not None
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    try:
        await asyncio.gather(
            _read_progress(proc.stdout, duration_s, on_progress),
            _read_tail(proc.stderr, tail),
        )
        code = await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    if code != 0:
        said = " | ".join(tail) or "(nothing on stderr)"
        raise ExportError(f"ffmpeg failed (exit status {code}): {said}")


async def _read_progress(
    stream: asyncio.StreamReader, duration_s: float, on_progress: ProgressCallback | None
) -> None:
    async for raw in stream:
        key, _, value = raw.decode(errors="replace").strip().partition("=")
        if key == "out_time_us" and on_progress is not None and value.lstrip("-").isdigit():
            # 1.0 is reported once the file is complete (after the faststart rewrite).
            on_progress(min(max(int(value) / 1e6 / duration_s, 0.0), 0.999))


async def _read_tail(stream: asyncio.StreamReader, tail: deque[str]) -> None:
    async for raw in stream:
        line = raw.decode(errors="replace").strip()
        if line:
            tail.append(line[:300])


# --- jobs and the queue ---


class ExportJob:
    """One export, queued or running in an `ExportQueue`: its state and progress (0..1)."""

    def __init__(self, job_id: str, spec: ExportSpec, output: Path) -> None:
        self.id = job_id
        self.spec = spec
        self.output = output
        self.state: ExportState = "queued"
        self.progress = 0.0
        self.error: str | None = None
        self._done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._notify: Callable[[ExportJob], None] = lambda job: None

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def cancel(self) -> bool:
        """Stop the job (kills its ffmpeg); False if it had already finished."""
        if self._task is None or self.finished:
            return False
        return self._task.cancel()

    async def wait(self) -> Path:
        """The output path once done; ExportError if it failed, ExportCancelled if cancelled."""
        await self._done.wait()
        if self.state == "cancelled":
            raise ExportCancelled(f"export {self.id} was cancelled")
        if self.state == "failed":
            raise ExportError(self.error or f"export {self.id} failed")
        return self.output

    def _set(self, state: ExportState, error: str | None = None) -> None:
        self.state = state
        self.error = error
        if state in ("done", "failed", "cancelled"):
            self._done.set()
        self._notify(self)

    def _set_progress(self, value: float) -> None:
        if value > self.progress:
            self.progress = value
            self._notify(self)


class ExportQueue:
    """Runs exports in the background, at most `config.max_concurrent` at once.

    Owns its tasks: `stop()` cancels every queued or running job (killing ffmpeg) and waits
    for them. `on_change(job)` is called on the event loop at every state or progress change.
    """

    def __init__(
        self,
        config: ExportConfig,
        *,
        logger: logging.Logger | None = None,
        on_change: Callable[[ExportJob], None] | None = None,
    ) -> None:
        self.config = config
        self.log = logger or logging.getLogger(__name__)
        self.on_change = on_change
        self._slots = asyncio.Semaphore(config.max_concurrent)
        self._jobs: dict[str, ExportJob] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopped = False

    def submit(self, spec: ExportSpec, output: Path, *, job_id: str | None = None) -> ExportJob:
        if self._stopped:
            raise RuntimeError("export queue is stopped")
        job = ExportJob(job_id or uuid.uuid4().hex, spec, output)
        if job.id in self._jobs:
            raise ValueError(f"export job {job.id!r} already exists")
        if self.on_change is not None:
            job._notify = self.on_change
        task = asyncio.create_task(self._run(job), name=f"export {job.id}")
        job._task = task
        self._jobs[job.id] = job
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    def job(self, job_id: str) -> ExportJob | None:
        return self._jobs.get(job_id)

    @property
    def jobs(self) -> list[ExportJob]:
        return list(self._jobs.values())

    @property
    def running(self) -> int:
        return sum(1 for j in self._jobs.values() if j.state == "running")

    async def stop(self) -> None:
        self._stopped = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, job: ExportJob) -> None:
        try:
            async with self._slots:
                job._set("running")
                await render_export(
                    job.spec,
                    job.output,
                    self.config,
                    on_progress=job._set_progress,
                    logger=self.log,
                )
        except asyncio.CancelledError:
            job._set("cancelled")
            raise
        except ExportError as exc:
            self.log.warning("export %s failed: %s", job.id, exc)
            job._set("failed", str(exc))
        except Exception as exc:  # a bug: keep the job's failure visible, log the trace
            self.log.exception("export %s crashed", job.id)
            job._set("failed", f"internal error: {exc!r}")
        else:
            job._set("done")
