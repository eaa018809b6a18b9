"""`tiepdan bench bridge`: the bridge's figures against a transcoding baseline.

Three processes per run, all on 127.0.0.1: this one (it only orchestrates), the measured
server (`server.serve`: the bridge, or the decode + re-encode baseline), and the load
(`load.generate`: 1 central + N endpoints, aiortc clients replaying pre-encoded VP8 and
Opus). The server process is measured (CPU from getrusage, memory from /proc, packets from
its senders' counters, the bridge-added latency from a hook on its slots), the load process
measures the end-to-end latency and watches itself (a saturated generator makes the run
invalid). Each run has three windows: everything, audio alone, video alone (`load.py`).

The baseline runs at the bridge's size where it can; where it saturates (frames lost,
slots never fed, peers down, or the generator beside it starved) it is run again at half the size, down to 1, and the largest size it
carried is reported beside the sizes tried. Every process is stopped at the end, on errors
and on Ctrl-C too; each also stops by itself in time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from typing import Any

from bridge.bench.load import Plan, generate
from bridge.bench.media import Clip, opus_clip, vp8_clip
from bridge.bench.report import (
    MAX_LOSS_PCT,
    RunFigures,
    baseline_sizes,
    figures,
    lines,
    machine_line,
    summary,
)
from bridge.bench.server import ServerKind, serve

BASELINE_MAX_SECONDS = 10.0
KIND_MAX_SECONDS = 10.0  # each of the audio-only and video-only windows
SERVER_START_LIMIT = 60.0


def run_bench(
    endpoints: int, duration: float, json_out: bool, generator_hog: float = 0.0
) -> dict[str, Any]:
    """Run the bridge and then the baseline; print the report (with `json_out`, its last
    line is one JSON object) and return that object. `generator_hog` keeps the load
    generator busy for that share of its time (0 to 1: a run that must be refused)."""
    if endpoints < 1 or duration <= 0 or not 0 <= generator_hog < 1:
        raise ValueError("need endpoints >= 1, duration > 0 and 0 <= generator hog < 1")
    busy = os.getloadavg()[0]  # before our own processes add to it
    video, audio = vp8_clip(), opus_clip()  # encoded once, replayed by every publisher
    kind_seconds = min(duration, KIND_MAX_SECONDS)
    plan = Plan(0, endpoints, duration, 0.0, video, audio, kind_seconds, True, generator_hog)
    ours = figures(endpoints, _run("sfu", plan))
    base: RunFigures | None = None
    tried: list[dict[str, Any]] = []
    if ours.invalid_reason is None:  # an invalid run is refused: no baseline for it
        base, tried = _baseline(endpoints, min(duration, BASELINE_MAX_SECONDS), video, audio)
    result = summary(ours, base, tried)
    # Other work on the machine skews every figure here: say how busy it was.
    result["machine"] = {"cpus": os.cpu_count(), "loadavg_1min_before": round(busy, 2)}
    for line in [*lines(result), machine_line(result["machine"])]:
        print(line, flush=True)
    if json_out:
        print(json.dumps(result), flush=True)
    return result


def _baseline(
    endpoints: int, seconds: float, video: Clip, audio: Clip
) -> tuple[RunFigures | None, list[dict[str, Any]]]:
    """The baseline at the bridge's size if it can carry it, else at the largest smaller
    size it can (`baseline_sizes`); each size tried, and why it was saturated."""
    tried: list[dict[str, Any]] = []
    for size in baseline_sizes(endpoints):
        plan = Plan(0, size, seconds, 0.0, video, audio, seconds, give_up_pct=MAX_LOSS_PCT)
        run = figures(size, _run("transcode", plan))
        # A generator starved by the relay beside it cannot measure that size either.
        reason = run.saturated_reason
        tried.append({"endpoints": size, "saturated": reason})
        if reason is None:
            return run, tried
    return None, tried


def _run(kind: ServerKind, plan: Plan) -> Any:
    """One server process and one load process (`plan`, given the server's port); the
    load's result."""
    ctx = multiprocessing.get_context("spawn")
    warmup_limit = 20.0 + plan.endpoints
    limit = SERVER_START_LIMIT + warmup_limit + plan.duration + 2 * plan.kind_seconds + 40.0
    server_pipe, server_end = ctx.Pipe()
    server = ctx.Process(target=serve, args=(kind, server_end, limit), name=f"bench-{kind}")
    load: BaseProcess | None = None
    done = False
    try:
        server.start()
        server_end.close()
        if not server_pipe.poll(SERVER_START_LIMIT):
            raise RuntimeError(f"the {kind} server did not start")
        port = server_pipe.recv()["port"]
        load_pipe, load_end = ctx.Pipe(duplex=False)
        plan = dataclasses.replace(plan, port=port, warmup_limit=warmup_limit)
        load = ctx.Process(target=generate, args=(plan, load_end), name="bench-load")
        load.start()
        load_end.close()
        if not load_pipe.poll(limit):
            raise RuntimeError(f"the load process gave no result within {limit:.0f} s")
        result = load_pipe.recv()
        if "error" in result:
            raise RuntimeError(f"the load process failed: {result['error']}")
        done = True
        return result
    finally:
        if load is not None:  # on an error or Ctrl-C, the load is stopped at once
            _end(load, 15.0 if done else 0.0)
        server_pipe.close()  # the server sees EOF and stops
        _end(server, 20.0)


def _end(process: BaseProcess, grace: float) -> None:
    """Wait for `process` to finish on its own, then terminate it, then kill it."""
    process.join(grace)
    if process.is_alive():
        process.terminate()
        process.join(3.0)
    if process.is_alive():
        process.kill()
        process.join()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tiepdan bench bridge", description="Measure the bridge against a baseline."
    )
    parser.add_argument("--endpoints", type=int, default=30, help="endpoints besides the central")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    # Keeps the load generator busy for this share of its time: checks that a run whose
    # generator saturates is refused (exit 1).
    parser.add_argument("--hog-generator", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    result = run_bench(args.endpoints, args.duration, args.json, args.hog_generator)
    return 0 if result["valid"] else 1
