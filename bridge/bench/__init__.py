"""`tiepdan bench bridge`: the bridge's figures against a transcoding baseline.

Three processes per run, all on 127.0.0.1: this one (it only orchestrates), the measured
server (`server.serve`: the bridge, or the decode + re-encode baseline), and the load
(`load.generate`: 1 central + N endpoints, aiortc clients replaying pre-encoded VP8 and
Opus). Only the server process is measured: CPU from getrusage, memory from /proc,
packets from its senders' counters, latency from a hook on its slots. Every process is
stopped at the end, on errors and on Ctrl-C too; each also stops by itself in time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from typing import Any

from bridge.bench.load import Plan, generate
from bridge.bench.media import Clip, opus_clip, vp8_clip
from bridge.bench.report import figures, lines, machine_line, summary
from bridge.bench.server import ServerKind, serve

BASELINE_ENDPOINTS = 2  # what the decode + re-encode relay sustains on this machine
BASELINE_MAX_SECONDS = 10.0
SERVER_START_LIMIT = 60.0


def run_bench(
    endpoints: int, duration: float, json_out: bool, baseline_endpoints: int = BASELINE_ENDPOINTS
) -> dict[str, Any]:
    """Run the bridge and then the baseline; print the report (with `json_out`, its last
    line is one JSON object) and return that object."""
    if endpoints < 1 or duration <= 0 or not 1 <= baseline_endpoints <= 3:
        raise ValueError("need endpoints >= 1, duration > 0 and 1 <= baseline endpoints <= 3")
    busy = os.getloadavg()[0]  # before our own processes add to it
    video, audio = vp8_clip(), opus_clip()  # encoded once, replayed by every publisher
    ours = figures(endpoints, _run("sfu", endpoints, duration, video, audio))
    base_seconds = min(duration, BASELINE_MAX_SECONDS)
    base = figures(
        baseline_endpoints, _run("transcode", baseline_endpoints, base_seconds, video, audio)
    )
    result = summary(ours, base)
    # Other work on the machine skews every figure here: say how busy it was.
    result["machine"] = {"cpus": os.cpu_count(), "loadavg_1min_before": round(busy, 2)}
    for line in [*lines(result), machine_line(result["machine"])]:
        print(line, flush=True)
    if json_out:
        print(json.dumps(result), flush=True)
    return result


def _run(kind: ServerKind, endpoints: int, duration: float, video: Clip, audio: Clip) -> Any:
    """One server process and one load process; the load's result."""
    ctx = multiprocessing.get_context("spawn")
    warmup_limit = 20.0 + endpoints
    limit = SERVER_START_LIMIT + warmup_limit + duration + 30.0
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
        plan = Plan(port, endpoints, duration, warmup_limit, video, audio)
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
    args = parser.parse_args(argv)
    result = run_bench(args.endpoints, args.duration, args.json)
    return 0 if result["valid"] else 1
