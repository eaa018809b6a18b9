"""`tiepdan bench recording`: figures for the recording path, each beside its baseline.

- CPU and memory per recorded 720p30 VP8 camera track (with its Opus microphone track):
  frames encoded once up front by ffmpeg, then fed through `TrackRecorder`s at real-time
  pace; the same paced feed into a subscriber that does nothing is the baseline subtracted.
- Composite export speed (`recording.export`) for a central + 4 endpoint session, as a
  multiple of real time (wall clock, and per CPU second).
- S3 upload throughput of our `Storage` (hash, upload, verify) against a moto server it
  starts on 127.0.0.1, next to a plain boto3 `upload_file` of the same file in the same run.

Benchmarks print figures; they do not pass or fail (targets are printed beside them).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, TextIO

import av

from bridge import EncodedFrame, TrackInfo
from recording.config import MiB, RecordingConfig
from recording.export import ExportConfig, ExportSpec, ExportTrack, FloorChange, render_export
from recording.recorder import TrackRecorder
from recording.storage import open_storage

CPU_TARGET_PCT = 1.0
EXPORT_TARGET_X = 2.0


@dataclass(frozen=True, slots=True)
class BenchSizes:
    record_s: float = 8.0  # media seconds fed per recorded track
    record_tracks: int = 4  # 720p camera tracks (each with a microphone track)
    export_s: float = 24.0  # media seconds per endpoint in the export session
    s3_bytes: int = 64 * MiB
    s3_rounds: int = 3  # best of


QUICK = BenchSizes(record_s=1.0, record_tracks=2, export_s=3.0, s3_bytes=6 * MiB, s3_rounds=1)


def run_bench(json_out: bool, *, quick: bool = False, out: TextIO | None = None) -> dict[str, Any]:
    """Run every figure, print them (with `json_out`, one JSON object on the last line)."""
    stream = out or sys.stdout
    sizes = QUICK if quick else BenchSizes()

    def say(line: str) -> None:
        print(line, file=stream, flush=True)

    with tempfile.TemporaryDirectory(prefix="tiepdan-bench-") as tmp:
        work = Path(tmp)
        figures: dict[str, Any] = {}
        figures.update(asyncio.run(_bench_recorder(work, sizes, say)))
        figures.update(asyncio.run(_bench_export(work, sizes, say)))
        figures.update(asyncio.run(_bench_s3(work, sizes, say)))
    figures["valid"] = not figures["problems"]
    for problem in figures["problems"]:
        say(f"INVALID RUN: {problem}")
    if json_out:
        say(json.dumps(figures, sort_keys=True))
    return figures


# --- synthetic media (made once, before anything is measured) ---


def _ffmpeg(*args: str) -> None:
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench media: ffmpeg failed: {done.stderr.strip()[-500:]}")


def _make_video(path: Path, seconds: float, size: str, bitrate: str) -> None:
    _ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=s={size}:r=30:d={seconds}"),
        *("-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "16", "-threads", "2"),
        *("-b:v", bitrate, "-g", "90", str(path)),
    )


def _make_audio(path: Path, seconds: float, freq: int = 440) -> None:
    _ffmpeg(
        *("-f", "lavfi", "-i", f"sine=f={freq}:d={seconds}:r=48000", "-ac", "2"),
        *("-c:a", "libopus", "-b:a", "32k", "-frame_duration", "20", str(path)),
    )


def _packets(path: Path, clock_rate: int, t0: float) -> list[EncodedFrame]:
    """A file's packets as the bridge would hand them over: RTP-clock timestamps, wall-clock."""
    frames = []
    with av.open(str(path)) as container:
        stream = container.streams[0]
        base = stream.time_base or Fraction(1, 1000)
        for packet in container.demux(stream):
            if packet.pts is None or not packet.size:
                continue
            seconds = float(packet.pts * base)
            ts = round(seconds * clock_rate)
            frames.append(EncodedFrame(bytes(packet), ts, packet.is_keyframe, t0 + seconds))
    return frames


# --- CPU and memory per recorded track ---


class _NullSubscriber:
    def on_frame(self, track: TrackInfo, frame: EncodedFrame) -> None:
        pass

    def on_track_ended(self, track: TrackInfo) -> None:
        pass


def _track(i: int, kind: str) -> TrackInfo:
    video = kind == "video"
    return TrackInfo(
        track_id=f"bench-{kind}-{i}",
        room_id="bench",
        participant_id=f"p-{i}",
        endpoint_id=i,
        kind="video" if video else "audio",
        source="camera" if video else "microphone",
        codec="VP8" if video else "opus",
        clock_rate=90000 if video else 48000,
    )


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _paced_feed(
    schedule: list[tuple[float, TrackInfo, EncodedFrame]],
    deliver: Callable[[TrackInfo, EncodedFrame], None],
) -> None:
    """Hand each frame over at its media time (real-time pace), as the bridge would."""
    start = time.monotonic()
    for at, track, frame in schedule:
        delay = start + at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing, not waiting for a condition
        deliver(track, frame)


@dataclass(frozen=True, slots=True)
class _Run:
    cpu_s: float
    rss_delta: int


async def _measure(
    schedule: list[tuple[float, TrackInfo, EncodedFrame]],
    subscriber_for: Callable[[TrackInfo], Any],
    tracks: list[TrackInfo],
) -> _Run:
    subscribers = {t.track_id: subscriber_for(t) for t in tracks}
    rss0, cpu0 = _rss_bytes(), time.process_time()
    for sub in subscribers.values():
        if isinstance(sub, TrackRecorder):
            sub.start()
    await _paced_feed(schedule, lambda t, f: subscribers[t.track_id].on_frame(t, f))
    rss1 = _rss_bytes()
    for sub in subscribers.values():
        if isinstance(sub, TrackRecorder):
            await sub.stop()
    return _Run(time.process_time() - cpu0, rss1 - rss0)


async def _bench_recorder(
    work: Path, sizes: BenchSizes, say: Callable[[str], None]
) -> dict[str, Any]:
    say(f"recorder: encoding {sizes.record_s:g} s of 720p30 VP8 + Opus (not measured)...")
    await asyncio.to_thread(_make_video, work / "720p.ivf", sizes.record_s, "1280x720", "1500k")
    await asyncio.to_thread(_make_audio, work / "mic.ogg", sizes.record_s)
    t0 = time.time()
    media = {
        "video": _packets(work / "720p.ivf", 90000, t0),
        "audio": _packets(work / "mic.ogg", 48000, t0),
    }
    kbps = sum(len(f.data) for f in media["video"]) * 8 / sizes.record_s / 1000
    config = RecordingConfig(spool_dir=work / "spool", min_free_bytes=0)
    n = sizes.record_tracks
    figures: dict[str, Any] = {"record_tracks": n, "video_kbit_s": round(kbps)}
    problems: list[str] = []
    for kind, label in (("video", "720p30 VP8"), ("audio", "Opus 48 kHz")):
        tracks = [_track(i, kind) for i in range(n)]
        schedule = sorted(
            ((f.wallclock - t0, t, f) for t in tracks for f in media[kind]), key=lambda e: e[0]
        )
        media_s = max(at for at, _, _ in schedule)
        base = await _measure(schedule, lambda t: _NullSubscriber(), tracks)
        rec = await _measure(
            schedule, lambda t: TrackRecorder(t, config, key_prefix="bench"), tracks
        )
        # Not clamped: a recorder measured no dearer than the null subscriber means the
        # difference drowned in the machine's noise, and the run says so (invalid).
        cpu_pct = (rec.cpu_s - base.cpu_s) / media_s / n * 100
        mem_mb = (rec.rss_delta - base.rss_delta) / MiB / n
        if cpu_pct <= 0:
            problems.append(
                f"{label}: recording cost no more CPU than the null subscriber "
                f"({rec.cpu_s:.3f} s vs {base.cpu_s:.3f} s): the machine's noise is larger"
            )
        say(
            f"recorder: {n} x {label} tracks, {media_s:.1f} s at real-time pace: process CPU "
            f"{rec.cpu_s:.2f} s recording vs {base.cpu_s:.2f} s feeding a null subscriber"
        )
        say(f"  {label}: {cpu_pct:.3f} % of one core per track, {mem_mb:.2f} MiB RSS per track")
        suffix = "" if kind == "video" else "_audio"
        figures |= {
            f"cpu_pct_per{suffix}_track": round(cpu_pct, 4),
            f"mem_mb_per{suffix}_track": round(mem_mb, 3),
            f"cpu_s_recording{suffix}": round(rec.cpu_s, 3),
            f"cpu_s_baseline{suffix}": round(base.cpu_s, 3),
        }
    figures["cpu_target_met"] = figures["cpu_pct_per_track"] < CPU_TARGET_PCT
    say(
        f"  cpu_pct_per_track = {figures['cpu_pct_per_track']} % for a 720p video track at "
        f"{kbps:.0f} kbit/s (target < {CPU_TARGET_PCT:g} %); mem_mb_per_track = "
        f"{figures['mem_mb_per_track']} MiB"
    )
    figures["problems"] = problems
    return figures


# --- export speed ---


async def _bench_export(
    work: Path, sizes: BenchSizes, say: Callable[[str], None]
) -> dict[str, Any]:
    seconds = sizes.export_s
    say(f"export: making 5 x {seconds:g} s of 640x360 VP8 + Opus (not measured)...")
    cam, mic = work / "cam360.webm", work / "mic.webm"
    await asyncio.to_thread(_make_video, cam, seconds, "640x360", "600k")
    await asyncio.to_thread(_make_audio, mic, seconds)
    t0, central = 1_750_000_000.0, 100
    tracks = []
    for i in range(5):  # the central endpoint and four others, joining 0.2 s apart
        start = t0 + 0.2 * i
        tracks.append(ExportTrack(cam, central + i, "video", "camera", start, seconds))
        tracks.append(ExportTrack(mic, central + i, "audio", "microphone", start, seconds))
    turns = max(int(seconds // 4), 1)
    floor = tuple(FloorChange(t0 + 4.0 * k, central + k % 5) for k in range(1, turns))
    spec = ExportSpec(tuple(tracks), floor, central_endpoint_id=central)
    config = ExportConfig()
    duration = seconds + 0.8
    cpu0, wall0 = _children_cpu(), time.monotonic()
    await render_export(spec, work / "export.mp4", config)
    wall, cpu = time.monotonic() - wall0, _children_cpu() - cpu0
    x_rt, x_cpu = duration / wall, duration / cpu
    say(
        f"export: {duration:.1f} s session (1 central + 4 endpoints, {len(floor)} floor changes)"
        f" -> {config.width}x{config.height}@{config.fps} H.264 {config.preset} + AAC in "
        f"{wall:.2f} s wall, {cpu:.2f} s ffmpeg CPU"
    )
    say(
        f"  export_x_realtime = {x_rt:.2f} x (target >= {EXPORT_TARGET_X:g} x); "
        f"{x_cpu:.2f} x real time per CPU second"
    )
    return {
        "export_x_realtime": round(x_rt, 3),
        "export_x_realtime_per_cpu_s": round(x_cpu, 3),
        "export_media_s": round(duration, 2),
        "export_wall_s": round(wall, 3),
        "export_target_met": x_rt >= EXPORT_TARGET_X,
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- S3 throughput ---


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def _moto_server(within_s: float = 30.0) -> Iterator[str]:
    """moto's standalone S3 server in a child process on loopback; yields its endpoint."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(port, proc, within_s)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_listening(port: int, proc: subprocess.Popen[bytes], within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"moto server not listening on {port} after {within_s} s"
                ) from None
            time.sleep(0.05)  # polling a condition, with a deadline


def _boto3_client(endpoint: str) -> Any:
    import boto3  # type: ignore[import-untyped,unused-ignore]

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )


async def _bench_s3(work: Path, sizes: BenchSizes, say: Callable[[str], None]) -> dict[str, Any]:
    data = work / "upload.bin"
    with data.open("wb") as f:
        for _ in range(sizes.s3_bytes // MiB):
            f.write(os.urandom(MiB))
    mb = sizes.s3_bytes / 1e6
    with _moto_server() as endpoint:
        client = _boto3_client(endpoint)
        client.create_bucket(Bucket="bench")
        times: dict[str, list[float]] = {"plain": [], "seq": [], "ours": [], "no_rehash": []}
        for i in range(sizes.s3_rounds):  # interleaved, so load changes hit every figure
            times["plain"].append(await _timed(asyncio.to_thread(_plain, client, data, f"b{i}")))
            times["seq"].append(
                await _timed(asyncio.to_thread(_plain, client, data, f"s{i}", _part(sizes)))
            )
            times["ours"].append(await _ours(endpoint, work, data, f"o{i}", sizes, rehash=True))
            times["no_rehash"].append(
                await _ours(endpoint, work, data, f"q{i}", sizes, rehash=False)
            )
    rate = {name: mb / min(t) for name, t in times.items()}
    ratio = rate["ours"] / rate["plain"]
    say(
        f"s3: {mb:.0f} MB to moto on 127.0.0.1, best of {sizes.s3_rounds}: ours "
        f"{rate['ours']:.1f} MB/s (SHA-256, upload, HEAD and read-back verify), ours without "
        f"read-back {rate['no_rehash']:.1f} MB/s; boto3 upload_file {rate['plain']:.1f} MB/s "
        f"(default: 10 threads), {rate['seq']:.1f} MB/s (one thread, our part size)"
    )
    say(
        f"  s3_throughput_ratio_vs_boto3 = {ratio:.2f} (vs one-thread boto3 "
        f"{rate['ours'] / rate['seq']:.2f})"
    )
    return {
        "s3_throughput_ratio_vs_boto3": round(ratio, 3),
        "s3_throughput_ratio_vs_boto3_one_thread": round(rate["ours"] / rate["seq"], 3),
        "s3_throughput_ratio_no_rehash_vs_boto3": round(rate["no_rehash"] / rate["plain"], 3),
        "s3_ours_mb_s": round(rate["ours"], 2),
        "s3_ours_no_rehash_mb_s": round(rate["no_rehash"], 2),
        "s3_boto3_mb_s": round(rate["plain"], 2),
        "s3_boto3_one_thread_mb_s": round(rate["seq"], 2),
        "s3_file_mb": round(mb, 1),
    }


def _plain(client: Any, path: Path, key: str, one_thread_part: int | None = None) -> None:
    from boto3.s3.transfer import TransferConfig  # type: ignore[import-untyped,unused-ignore]

    config = TransferConfig()
    if one_thread_part is not None:
        config = TransferConfig(
            multipart_threshold=one_thread_part,
            multipart_chunksize=one_thread_part,
            max_concurrency=1,
            use_threads=False,
        )
    client.upload_file(str(path), "bench", f"plain/{key}", Config=config)


def _part(sizes: BenchSizes) -> int:
    """Our multipart part size for the bench file (small files still go up in parts)."""
    return min(RecordingConfig().multipart_chunk_size, max(5 * MiB, sizes.s3_bytes // 4))


async def _timed(awaitable: Any) -> float:
    start = time.monotonic()
    await awaitable
    return time.monotonic() - start


async def _ours(
    endpoint: str, work: Path, data: Path, key: str, sizes: BenchSizes, *, rehash: bool
) -> float:
    config = RecordingConfig(
        storage_url="s3://bench/ours",
        s3_endpoint_url=endpoint,
        s3_access_key="bench",
        s3_secret_key="bench",
        spool_dir=work / "s3spool",
        keep_local_after_upload=True,
        verify_rehash=rehash,
        min_free_bytes=0,
        # Small bench files still go up in parts, as a recording would.
        multipart_threshold=min(RecordingConfig().multipart_threshold, sizes.s3_bytes),
        multipart_chunk_size=_part(sizes),
        retry_max_attempts=3,
    )
    storage = open_storage(config)
    await storage.check()
    return await _timed(storage.store_file(data, key))
