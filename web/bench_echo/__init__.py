"""`tiepdan bench echo`: tiepdan's bridge beside Janus, in one run.

N headless Chromium pages (fake camera 640×480 VP8, fake microphone Opus) each publish and get
their own media back, first through tiepdan's readiness test room (the loopback room of
`web/live.py`, a `tiepdan serve` process of its own on a temporary SQLite database), then
through Janus's echotest plugin (Debian's `janus`, configured here on 127.0.0.1). Over a
measured window after a warm-up, each server's CPU (utime + stime from /proc, its whole
process tree) and each page's getStats (received fps, resolution, kbit/s, loss; sent and
captured fps) are read; the report compares CPU per echoed stream (one page's audio and
video) at the delivered quality, and refuses a run whose load starved (`report.py`).
Every process (servers, browsers, hog) is stopped at the end, on errors and on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from web.bench_echo import pages, servers
from web.bench_echo.report import Side, lines, summary
from web.chromium import CHROMIUM


@dataclass(frozen=True, slots=True)
class Options:
    browsers: int = 6
    duration: float = 20.0
    warmup: float = 10.0
    hog: bool = False
    json: bool = False

    def __post_init__(self) -> None:
        if self.browsers < 1:
            raise ValueError("--browsers phải từ 1 trở lên")
        if self.duration <= 0 or self.warmup < 0:
            raise ValueError("--duration phải lớn hơn 0 và --warmup không được âm")


def _sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # stopped like Ctrl-C: every `with` below stops its process


def _failed(name: str, why: str) -> tuple[Side, str]:
    return Side(name, (), 0.0, 0.0), f"{name}: {why}"


def _tiepdan_side(root: Path, opts: Options, timing: pages.Timing) -> tuple[Side, str]:
    try:
        with servers.tiepdan(root, opts.browsers) as (server, seats):
            opener = pages.tiepdan_opener(server, seats)
            side = asyncio.run(
                pages.measure(
                    "tiepdan",
                    opener,
                    opts.browsers,
                    timing,
                    lambda: servers.cpu_seconds(server.pid),
                )
            )
            servers.check_alive(server.pid, "tiepdan serve", server.log)
            return side, ""
    except servers.ServerFailed as exc:
        return _failed("tiepdan", str(exc))


def _janus_side(root: Path, opts: Options, timing: pages.Timing) -> tuple[Side, str]:
    try:
        with servers.janus(root) as server:
            opener = pages.janus_opener(server)
            side = asyncio.run(
                pages.measure(
                    "janus", opener, opts.browsers, timing, lambda: servers.cpu_seconds(server.pid)
                )
            )
            servers.check_alive(server.pid, "janus", server.log)
            return side, ""
    except servers.ServerFailed as exc:
        return _failed("janus", str(exc))


def run_echo_bench(opts: Options) -> dict[str, Any]:
    """Run both sides; print the report (with `opts.json`, its last line is one JSON object)
    and return that object."""
    if not os.access(CHROMIUM, os.X_OK):
        raise ValueError(f"thiếu {CHROMIUM}: `make bench` cài Chromium và Janus của Debian")
    previous = signal.signal(signal.SIGTERM, _sigterm)
    busy = os.getloadavg()[0]  # before our own processes add to it
    timing = pages.Timing(opts.warmup, opts.duration)
    try:
        with ExitStack() as stack:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tiepdan-echo-")))
            if opts.hog:
                stack.enter_context(servers.hog(root))
            ours, our_error = _tiepdan_side(root, opts, timing)
            theirs, their_error = _janus_side(root, opts, timing)
    finally:
        signal.signal(signal.SIGTERM, previous)
    errors = tuple(e for e in (our_error, their_error) if e)
    result = summary(ours, theirs, opts.browsers, errors)
    result |= {
        "duration_s": opts.duration,
        "warmup_s": opts.warmup,
        "hog": opts.hog,
        # Other work on the machine skews every figure here: say how busy it was.
        "machine": {"cpus": os.cpu_count(), "loadavg_1min_before": round(busy, 2)},
    }
    for line in lines(result):
        print(line, flush=True)
    m = result["machine"]
    print(f"  machine: {m['cpus']} CPUs, load average {m['loadavg_1min_before']} before the run")
    if opts.json:
        print(json.dumps(result, ensure_ascii=False), flush=True)
    return result
