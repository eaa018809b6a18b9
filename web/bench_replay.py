"""`tiepdan bench replay`: replay figures through the app over loopback.

Builds a long archive (default: two hours, the central point and four endpoints, generated
camera-sized media: web/sample_archive.py), serves the app on a loopback port and, as a
player would, reads the track files through `GET /api/v1/recordings/{id}/media` with HTTP
range requests, a demuxer (PyAV) asking for what it needs:

- first frame: from the replay's first request to the first video frame's bytes (median of
  several starts); the same read from the file on disk is printed beside it;
- seek: the bytes fetched to seek to the middle and read the frame there, as a share of the
  file; baseline in the same run: the same seek in the same file remuxed without its seek
  index (Matroska Cues), served the same way;
- bundle: the hand-over bundle of one case (ZIP: minutes, composite video of the case's
  segment, documents, manifest), built by the app, as a multiple of the segment's length.

The reader's own CPU time is measured: a client busy for most of the wall time would be
measuring itself, and the run is then invalid (exit 1), as it is when the baseline does not
fetch more than the indexed file (the measurement would be broken)."""

from __future__ import annotations

import asyncio
import io
import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any, TextIO

import av
from aiohttp import web
from sqlalchemy import select

from bridge import new_event_loop
from sessions.db import DatabaseConfig, create_engine, session_factory, transaction, upgrade
from sessions.models import (
    Account,
    CaseFile,
    Endpoint,
    ReceptionSession,
    RecordingRecord,
    RecordingState,
    SessionKind,
    SessionState,
    Unit,
)
from sessions.seed import seed_demo
from sessions.text import search_key
from web.config import Config
from web.recording_checks import open_checked_storage
from web.sample_archive import PALETTE, TONES, ArchivePlan, Heard, Seat, VideoShape, build_archive

PASSWORD = "bench-replay-password"
BLOCK = 64 * 1024  # what the reader asks for at a time, as a player's demuxer does
TARGET_FIRST_MS = 300.0
TARGET_SEEK_SHARE = 0.02
TARGET_BUNDLE_X = 2.0
CLIENT_BUSY = 0.9  # the reader's CPU share of the wall time beyond which it measures itself


@dataclass(frozen=True, slots=True)
class Sizes:
    recorded_s: float = 7200.0
    endpoints: int = 4  # besides the central point
    case_from_s: float = 300.0
    case_s: float = 600.0
    video: VideoShape = field(
        default_factory=lambda: VideoShape(
            fps=15, width=320, height=240, bit_rate=250_000, grain=30, loop_s=10.0
        )
    )
    starts: int = 5


QUICK = Sizes(
    recorded_s=120.0,
    endpoints=2,
    case_from_s=10.0,
    case_s=30.0,
    video=VideoShape(fps=15, width=320, height=240, bit_rate=250_000, grain=30, loop_s=4.0),
    starts=3,
)


class RangeReader(io.RawIOBase):
    """A file read over HTTP range requests: what a demuxer fetches is counted."""

    def __init__(self, opener: urllib.request.OpenerDirector, url: str, size: int) -> None:
        self.opener, self.url, self.size = opener, url, size
        self.pos = 0
        self.fetched = 0
        self.requests = 0
        self._block_at = -1
        self._block = b""
        self.first_byte_s: float | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.size}[whence]
        self.pos = max(0, min(self.size, base + offset))
        return self.pos

    def _fetch(self, at: int) -> None:
        end = min(self.size, at + BLOCK) - 1
        req = urllib.request.Request(self.url, headers={"Range": f"bytes={at}-{end}"})
        started = time.perf_counter()
        with self.opener.open(req, timeout=30) as resp:
            if resp.status != 206:
                raise RuntimeError(f"{self.url}: {resp.status} for a range")
            data = resp.read()
        if self.first_byte_s is None:
            self.first_byte_s = time.perf_counter() - started
        self.requests += 1
        self.fetched += len(data)
        self._block_at, self._block = at, data

    def readinto(self, buffer: Any) -> int:
        if self.pos >= self.size:
            return 0
        inside = self._block_at <= self.pos < self._block_at + len(self._block)
        if not inside:
            self._fetch(self.pos)
        start = self.pos - self._block_at
        chunk = self._block[start : start + len(buffer)]
        buffer[: len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)


class Served:
    """The app on a loopback port, in its own thread and loop."""

    def __init__(self, config: Config) -> None:
        from web.app import create_app

        self.loop = new_event_loop(config.event_loop)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.app = create_app(config)
        self.runner = web.AppRunner(self.app, access_log=None)
        self.url = ""

    def run(self, coro: Any, timeout: float = 3600) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=timeout)

    def __enter__(self) -> Served:
        self.thread.start()

        async def start() -> str:
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", 0).start()
            host, port = self.runner.addresses[0][:2]
            return f"http://{host}:{port}"

        self.url = self.run(start(), 120)
        return self

    def __exit__(self, *exc: object) -> None:
        self.run(self.runner.cleanup(), 120)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()


class Client:
    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        self.csrf = ""

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.csrf:
            req.add_header("X-CSRF-Token", self.csrf)
        with self.opener.open(req, timeout=60) as resp:
            return json.loads(resp.read() or b"null")

    def login(self, username: str) -> None:
        self.csrf = self.call(
            "POST", "/api/v1/auth/login", {"username": username, "password": PASSWORD}
        )["csrf_token"]


async def _prepare(config: Config, sizes: Sizes) -> tuple[int, int, int, int]:
    """The demo province, an extra endpoint when needed, the long archive and a baseline
    session holding the same camera file without its seek index. Returns (session, case,
    baseline session, baseline recording)."""
    upgrade(config.database.url)
    engine = create_engine(config.database)
    factory = session_factory(engine)
    storage = await open_checked_storage(config.recording)
    origin = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    try:
        async with transaction(factory) as db:
            await seed_demo(db, PASSWORD, origin)
        async with transaction(factory) as db:
            eps = list(await db.scalars(select(Endpoint).order_by(Endpoint.id)))
            unit = await db.scalar(select(Unit).where(Unit.code == "SNNMT"))
            assert unit is not None
            while len(eps) < sizes.endpoints + 1:
                name = f"Điểm cầu đo hiệu năng {len(eps)}"
                ep = Endpoint(unit_id=unit.id, name=name, name_key=search_key(name))
                db.add(ep)
                await db.flush()
                eps.append(ep)
            accounts = {a.username: a for a in await db.scalars(select(Account))}
            case = await db.scalar(select(CaseFile).where(CaseFile.code == "HS-MAU-001"))
            after = await db.scalar(select(CaseFile).where(CaseFile.code == "HS-MAU-002"))
            assert case is not None and after is not None
            central = next(e for e in eps if e.is_central)
            others = [e for e in eps if not e.is_central][: sizes.endpoints]
            seats = [
                Seat(e.id, None, PALETTE[i % len(PALETTE)], TONES[i % len(TONES)])
                for i, e in enumerate([central, *others])
            ]
            plan = ArchivePlan(
                title="Phiên đo hiệu năng xem lại",
                unit_id=central.unit_id,
                chair_id=accounts["chair"].id,
                created_by_id=accounts["officer"].id,
                origin=origin,
                recorded_s=sizes.recorded_s,
                seats=seats,
                heard=[  # the case, then the next one: the case's segment ends there
                    Heard(case.id, seats[1].endpoint_id, sizes.case_from_s),
                    Heard(after.id, seats[2].endpoint_id, sizes.case_from_s + sizes.case_s),
                ],
                video=sizes.video,
            )
            case_id = case.id
        sid = await build_archive(config, factory, storage, plan)
        # The baseline: the central camera remuxed without Cues, in a session of its own.
        async with transaction(factory) as db:
            cam = await db.scalar(
                select(RecordingRecord).where(
                    RecordingRecord.session_id == sid,
                    RecordingRecord.track_kind == "video",
                    RecordingRecord.endpoint_id == seats[0].endpoint_id,
                )
            )
            assert cam is not None
            source = storage.local_path(cam.storage_key)
            assert source is not None
            config.var_dir.mkdir(parents=True, exist_ok=True)
            plain = config.var_dir / "baseline-no-cues.webm"
            await asyncio.to_thread(_remux_without_cues, source, plain)
            key = cam.storage_key.rsplit("/", 1)[0] + "/baseline-no-cues.webm"
            stored = await storage.store_file(plain, key)
            base = ReceptionSession(
                title="Đường cơ sở: tệp không có chỉ mục tua",
                title_key=search_key("duong co so"),
                kind=SessionKind.AD_HOC,
                state=SessionState.ENDED,
                unit_id=central.unit_id,
                chair_id=accounts["chair"].id,
                central_endpoint_id=central.id,
                starts_at=origin,
                ends_at=origin + timedelta(hours=3),
                endpoints=[],
                attendees=[],
                agenda=[],
            )
            db.add(base)
            await db.flush()
            row = RecordingRecord(
                session_id=base.id,
                storage_key=key,
                run_key=key.rsplit("/", 1)[0],
                track_id="baseline",
                participant_id="baseline",
                endpoint_id=central.id,
                track_kind="video",
                track_source="camera",
                codec="VP8",
                size_bytes=stored.size,
                sha256=stored.sha256,
                duration_ms=cam.duration_ms,
                started_at=cam.started_at,
                state=RecordingState.STORED,
            )
            db.add(row)
            await db.flush()
            return sid, case_id, base.id, row.id
    finally:
        await engine.dispose()


def _remux_without_cues(source: Path, target: Path) -> None:
    """The same packets in a Matroska file with no seek index (the muxer's live mode)."""
    with (
        av.open(str(source)) as src,
        av.open(str(target), "w", format="webm", options={"live": "1"}) as dst,
    ):
        stream = src.streams.video[0]
        out = dst.add_stream_from_template(stream)
        for packet in src.demux(stream):
            if packet.dts is None:
                continue
            packet.stream = out
            dst.mux(packet)


def _first_frame(reader: io.RawIOBase) -> None:
    with av.open(io.BufferedReader(reader, BLOCK), "r", format="matroska") as c:
        next(c.demux(c.streams.video[0]))


def _seek_to(reader: io.RawIOBase, at_s: float) -> None:
    """Open, seek to `at_s` seconds and read the frame there, as a player's seek does."""
    with av.open(io.BufferedReader(reader, BLOCK), "r", format="matroska") as c:
        stream = c.streams.video[0]
        assert stream.time_base is not None
        c.seek(int(at_s / stream.time_base), stream=stream)
        for packet in c.demux(stream):
            if packet.size:
                break


@dataclass
class Timed:
    wall_s: float
    cpu_s: float


def _timed(work: Callable[[], None]) -> Timed:
    cpu, wall = time.thread_time(), time.perf_counter()
    work()
    return Timed(time.perf_counter() - wall, time.thread_time() - cpu)


def run_replay_bench(json_out: bool, *, quick: bool = False, out: TextIO | None = None) -> int:
    stream = out or sys.stdout
    sizes = QUICK if quick else Sizes()

    def say(line: str) -> None:
        print(line, file=stream, flush=True)

    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tiepdan-bench-replay-") as tmp:
        root = Path(tmp)
        config = Config(
            var_dir=root / "var",
            database=DatabaseConfig(url=f"sqlite:///{root / 'bench.db'}"),
            storage_url=f"file://{root / 'store'}",
            secret_key="bench-replay-" + "k" * 40,
        )
        say(
            f"building the archive: {sizes.recorded_s / 3600:.2f} h, 1 central + "
            f"{sizes.endpoints} endpoints, {sizes.video.width}×{sizes.video.height} video…"
        )
        built = time.perf_counter()
        sid, case_id, base_sid, baseline_id = asyncio.run(_prepare(config, sizes))
        say(f"built in {time.perf_counter() - built:.1f} s")
        with Served(config) as served:
            client = Client(served.url)
            client.login("archivist")
            timeline = client.call("GET", f"/api/v1/sessions/{sid}/timeline")
            camera = next(t for t in timeline["tracks"] if t["kind"] == "video" and t["media_url"])
            rec = client.call("GET", f"/api/v1/recordings?session_id={sid}")
            size = next(r["size_bytes"] for r in rec["items"] if r["id"] == camera["recording_id"])
            base_rec = client.call("GET", f"/api/v1/recordings?session_id={base_sid}")["items"]
            base_size = next(r["size_bytes"] for r in base_rec if r["id"] == baseline_id)
            media = served.url + camera["media_url"]
            base_media = f"{served.url}/api/v1/recordings/{baseline_id}/media"

            firsts: list[float] = []
            busy: list[float] = []
            for i in range(sizes.starts):
                reader = RangeReader(client.opener, f"{media}?t={i}", size)
                timed = _timed(lambda r=reader: _first_frame(r))  # type: ignore[misc]
                firsts.append(timed.wall_s * 1000)
                busy.append(timed.cpu_s / timed.wall_s)
            local = _timed(lambda: _first_frame(_LocalReader(config, camera, rec)))
            seek = RangeReader(client.opener, media, size)
            middle = camera["duration_s"] / 2
            seek_t = _timed(lambda: _seek_to(seek, middle))
            plain = RangeReader(client.opener, base_media, base_size)
            plain_t = _timed(lambda: _seek_to(plain, middle))
            busy += [seek_t.cpu_s / seek_t.wall_s, plain_t.cpu_s / plain_t.wall_s]
            bundle = _bundle(client, case_id)

    first_ms = statistics.median(firsts)
    share = seek.fetched / size
    base_share = plain.fetched / base_size
    figures: dict[str, Any] = {
        "first_frame_ms": round(first_ms, 1),
        "first_frame_ms_all": [round(f, 1) for f in firsts],
        "first_frame_local_ms": round(local.wall_s * 1000, 1),
        "seek_share": round(share, 5),
        "seek_bytes": seek.fetched,
        "seek_requests": seek.requests,
        "seek_ms": round(seek_t.wall_s * 1000, 1),
        "file_bytes": size,
        "baseline_seek_share": round(base_share, 5),
        "baseline_seek_bytes": plain.fetched,
        "seek_ratio_vs_no_cues": round(base_share / share, 1) if share else None,
        "client_busy_max": round(max(busy), 3),
        "recorded_h": round(sizes.recorded_s / 3600, 3),
        "endpoints": sizes.endpoints + 1,
        **bundle,
    }
    if max(busy) > CLIENT_BUSY:
        problems.append(f"the reader was busy {max(busy):.0%} of the time: it measured itself")
    if base_share <= share:
        problems.append("the file without an index fetched no more than the indexed one")
    if bundle.get("bundle_error"):
        problems.append(str(bundle["bundle_error"]))
    figures["problems"] = problems
    figures["targets"] = {
        "first_frame": first_ms < TARGET_FIRST_MS,
        "seek_share": share < TARGET_SEEK_SHARE,
        "bundle_x_realtime": (bundle.get("bundle_x_realtime") or 0) >= TARGET_BUNDLE_X,
    }

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    t = figures["targets"]
    say(
        f"first frame through the app: {first_ms:.1f} ms median of {len(firsts)} "
        f"(from disk, no HTTP: {local.wall_s * 1000:.1f} ms)   target < {TARGET_FIRST_MS:.0f} ms: "
        f"{verdict(t['first_frame'])}"
    )
    say(
        f"seek to the middle: {seek.fetched / 1e6:.2f} MB in {seek.requests} ranges = "
        f"{share:.3%} of {size / 1e6:.0f} MB; without Cues: {base_share:.1%} "
        f"({figures['seek_ratio_vs_no_cues']}× more)   target < 2%: {verdict(t['seek_share'])}"
    )
    if "bundle_x_realtime" in bundle:
        say(
            f"case bundle: {bundle['bundle_s']:.1f} s for {bundle['case_s']:.0f} s heard = "
            f"{bundle['bundle_x_realtime']:.2f}× real time   target ≥ 2×: "
            f"{verdict(t['bundle_x_realtime'])}"
        )
    for problem in problems:
        say(f"INVALID RUN: {problem}")
    if json_out:
        say(json.dumps(figures, sort_keys=True, ensure_ascii=False))
    return 1 if problems else 0


class _LocalReader(io.FileIO):
    """The same file straight from the store's directory: the first frame without HTTP."""

    def __init__(self, config: Config, camera: dict[str, Any], rec: dict[str, Any]) -> None:
        key = next(r["storage_key"] for r in rec["items"] if r["id"] == camera["recording_id"])
        super().__init__(str(Path(config.storage_url.removeprefix("file://")) / key), "r")


def _bundle(client: Client, case_id: int) -> dict[str, Any]:
    """The case's hand-over bundle, built by the app: seconds, and the segment's length."""
    try:
        started = time.perf_counter()
        job = client.call("POST", f"/api/v1/cases/{case_id}/bundle", {})
    except urllib.error.HTTPError as exc:
        return {"bundle_error": f"bundle request refused: {exc.code}"}
    while job["state"] not in ("done", "failed"):
        time.sleep(0.2)  # polling the job's state
        job = client.call("GET", f"/api/v1/bundles/{job['id']}")
    elapsed = time.perf_counter() - started
    if job["state"] != "done":
        return {"bundle_error": f"bundle failed: {job.get('error')}"}
    heard = float(job["heard_s"])
    return {
        "bundle_s": round(elapsed, 2),
        "case_s": heard,
        "bundle_x_realtime": round(heard / elapsed, 2),
        "bundle_bytes": job["size_bytes"],
        "bundle_files": job["files"],
    }
