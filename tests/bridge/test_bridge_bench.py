"""The benchmark runs end to end on a tiny topology and reports its figures.

Not a test of the targets (the figures depend on the machine): only that every process
starts and stops, frames are forwarded, and the JSON line carries the promised keys.
"""

from __future__ import annotations

import json
import multiprocessing

import pytest

from bridge.bench import main

KEYS = ("cpu_ratio_vs_transcode", "us_per_packet", "latency_p99_ms", "endpoints", "cores_used")


@pytest.mark.timeout(120)
def test_tiny_bench_prints_its_figures_as_the_last_json_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["--endpoints", "2", "--duration", "3", "--json"])

    out = capsys.readouterr().out.strip().splitlines()
    figures = json.loads(out[-1])
    # The load generator's own figures are there; an invalid run says why and exits 1.
    assert code == (0 if figures["valid"] else 1), figures.get("invalid_reason")
    assert 0 < figures["generator_cores"] < 1.5 and figures["generator_loop_lag_p99_ms"] >= 0
    assert figures["valid"] or figures["invalid_reason"]
    assert any(line.startswith("load generator:") for line in out[:-1])
    assert any("baseline" in line for line in out[:-1]), out
    for key in KEYS:
        value = figures[key]
        assert isinstance(value, int | float) and value > 0, (key, value)
    assert 0 <= figures["frames_lost_pct"] < 100
    assert figures["endpoints"] == 2
    # central sees both endpoints, each endpoint sees the central one
    assert figures["video_streams"] == 4
    assert figures["packets_forwarded"] > 100
    assert figures["problems"] == []
    assert not multiprocessing.active_children()
