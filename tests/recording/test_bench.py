"""The recording bench in its quick mode: every figure is there, a positive number, and the
last line of the output is the JSON object the CLI's `--json` promises."""

from __future__ import annotations

import io
import json

import pytest

from recording.bench import run_bench

KEYS = (
    "cpu_pct_per_track",
    "mem_mb_per_track",
    "export_x_realtime",
    "s3_throughput_ratio_vs_boto3",
    "cpu_pct_per_audio_track",
    "export_x_realtime_per_cpu_s",
    "s3_ours_mb_s",
    "s3_boto3_mb_s",
)


@pytest.mark.s3  # starts its own moto server
def test_quick_bench_prints_every_figure_as_json() -> None:
    out = io.StringIO()
    figures = run_bench(True, quick=True, out=out)

    lines = out.getvalue().splitlines()
    assert json.loads(lines[-1]) == figures
    for key in KEYS:
        value = figures[key]
        assert isinstance(value, int | float) and not isinstance(value, bool), key
        assert value > 0, f"{key} = {value}"
    assert any("cpu_pct_per_track" in line for line in lines[:-1])  # figures said in words too
