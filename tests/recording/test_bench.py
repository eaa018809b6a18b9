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
    assert any("cpu_pct_per_track" in line for line in lines[:-1])  # figures said in words too
    # Nothing is clamped: a figure at or below zero is not reported as a measurement, it
    # makes the run invalid, with the reason said in words.
    assert figures["valid"] is (not figures["problems"])
    said = [line for line in lines if line.startswith("INVALID RUN:")]
    assert len(said) == len(figures["problems"])
    if figures["valid"]:
        for key in KEYS:
            assert figures[key] > 0, f"{key} = {figures[key]} in a valid run"
    else:
        assert any(figures[k] <= 0 for k in ("cpu_pct_per_track", "cpu_pct_per_audio_track"))


def test_the_command_exits_1_on_an_invalid_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from web import recording_checks

    for valid, code in ((True, 0), (False, 1)):
        monkeypatch.setattr(
            "recording.bench.run_bench", lambda json_out, v=valid: {"valid": v, "problems": []}
        )
        assert recording_checks.bench_command(False) == code
