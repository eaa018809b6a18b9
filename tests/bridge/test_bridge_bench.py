"""The benchmark's figures: the arithmetic behind them on made-up marks, the pieces that
read them (marks split over packets, out-of-range latencies), and two short runs end to
end: a tiny topology whose figures must hang together, and one whose load generator is
saturated on purpose and must be refused.

Not a test of the targets (the figures depend on the machine).
"""

from __future__ import annotations

import json
import multiprocessing
import time
from typing import Any

import pytest
from aiortc.rtp import RtpPacket

from bridge.bench import main
from bridge.bench.load import SlotCount
from bridge.bench.media import MARK, MARK_FORMAT
from bridge.bench.report import baseline_sizes, figures, summary
from bridge.bench.stats import Histogram

VP8_DESCRIPTOR = bytes((0x80, 0x80, 0x80, 0x01))  # X, I, a 15-bit PictureID (RFC 7741)


def _mark(cpu: float, packets: dict[str, int], wall: float = 0.0) -> dict[str, Any]:
    latency = Histogram().summary()
    return {
        **{"wall": wall, "cpu": cpu, "sys": cpu / 4, "rss": 8e6, "idle_rss": 4e6},
        **{"participants": 4, "packets_in": 0, "slot_drops": 0, "packets_out": packets},
        "latency": {"audio": latency, "video": latency},
    }


def _window(cpu: float, audio: int, video: int, frames: int, streams: tuple[int, int]) -> Any:
    """A 10 s window: `cpu` server seconds, `audio`/`video` packets forwarded, `frames`
    video frames received by (audio, video) `streams`, nothing lost."""
    rows = {
        "audio": {"expected": audio, "received": audio, "streams": streams[0]},
        "video": {"expected": frames, "received": frames, "streams": streams[1]},
    }
    generator = {"cores": 0.3, "kernel_drops": 0, "loop_lag_p99_ms": 2.0}
    return {
        "start": _mark(0.0, {"audio": 0, "video": 0}),
        "end": _mark(cpu, {"audio": audio, "video": video}, wall=10.0),
        "frames": rows,
        "problems": [],
        "e2e": {k: Histogram().summary() for k in ("audio", "video")},
        "generator": generator,
    }


def _run(scale: float, streams: tuple[int, int]) -> dict[str, Any]:
    a, v = streams
    return {
        "problems": [],
        "windows": {
            "all": _window(3.0 * scale, 500 * a, 450 * v, 150 * v, streams),
            "audio": _window(1.0 * scale, 500 * a, 0, 0, (a, 0)),
            "video": _window(2.0 * scale, 0, 450 * v, 150 * v, (0, v)),
        },
    }


def test_cpu_per_kind_comes_from_its_own_window_and_ratios_compare_like_with_like() -> None:
    ours = figures(30, _run(1.0, (93, 39)))
    base = figures(3, _run(2.0, (9, 6)))  # a smaller mix of another shape

    s = summary(ours, base, [{"endpoints": 30, "saturated": "60% frames lost"}])

    assert s["us_per_packet"] == round(3.0e6 / (500 * 93 + 450 * 39), 1)  # all of it
    assert s["us_per_audio_packet"] == round(1.0e6 / (500 * 93), 1)  # the audio window's
    assert s["us_per_video_frame"] == round(2.0e6 / (150 * 39), 1)  # the video window's
    assert s["cpu_per_video_stream_pct"] == round(100 * 0.2 / 39, 3)
    # Per stream of the same kind, each side divided by its own streams of that kind.
    assert s["cpu_ratio_vs_transcode"] == round((0.4 / 6) / (0.2 / 39), 1)
    assert s["cpu_ratio_vs_transcode_audio"] == round((0.2 / 9) / (0.1 / 93), 1)
    assert s["baseline_endpoints"] == 3 and s["baseline_sizes_tried"][0]["endpoints"] == 30
    assert s["valid"] and s["windows"]["audio"]["video_packets_forwarded"] == 0


def test_a_lossy_baseline_is_saturated_and_sizes_halve_down_to_one() -> None:
    lossy = _run(1.0, (2, 2))
    lossy["windows"]["all"]["frames"]["video"]["received"] = 250  # of 300: 16.7% lost
    assert figures(2, lossy).saturated_reason == "16.7% frames lost"
    assert figures(2, _run(1.0, (2, 2))).saturated_reason is None
    unfed = {"problems": ["not every slot received frames: e1"], "windows": {}}
    assert figures(2, unfed).saturated_reason == "not every slot received frames: e1"
    assert baseline_sizes(30) == [30, 15, 7, 3, 1] and baseline_sizes(1) == [1]


def test_latency_outside_the_buckets_is_reported_as_it_is() -> None:
    histogram = Histogram()
    for seconds in [0.001] * 97 + [0.45, 0.5, -0.002]:
        histogram.add(seconds)
    summary = histogram.summary()
    assert summary["max_ms"] == 500.0 and summary["p99_ms"] == 450.0  # not 200: unclamped
    assert histogram.percentile_ms(0.0) == -2.0
    assert Histogram().summary()["p99_ms"] is None  # no samples: no figure


def _packet(seq: int, payload: bytes, marker: bool) -> RtpPacket:
    return RtpPacket(payload_type=96, marker=marker, sequence_number=seq, payload=payload)


def test_a_mark_split_over_a_frames_last_two_packets_is_read() -> None:
    delays = Histogram()
    slot = SlotCount("video", delays)
    frame = bytes(range(200)) * 10 + MARK_FORMAT.pack(MARK, time.perf_counter())
    cut = len(frame) - 5  # the last packet holds 5 of the mark's 12 bytes
    slot.add(_packet(1, VP8_DESCRIPTOR + frame[:cut], False))
    slot.add(_packet(2, VP8_DESCRIPTOR + frame[cut:], True))
    slot.add(_packet(4, VP8_DESCRIPTOR + frame, True))  # after a gap: incomplete, not timed
    assert slot.frames == 1 and delays.total == 1
    assert 0 <= (delays.percentile_ms(1.0) or 0) < 1000


@pytest.mark.timeout(150)
def test_tiny_bench_figures_hang_together(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--endpoints", "2", "--duration", "2", "--json"])

    out = capsys.readouterr().out.strip().splitlines()
    s = json.loads(out[-1])
    assert code == (0 if s["valid"] else 1), s["invalid_reason"]
    assert s["valid"] or s["invalid_reason"]
    assert 0 < s["generator_cores"] < 1.5 and s["generator_loop_lag_p99_ms"] >= 0
    assert any(line.startswith("load generator") for line in out[:-1])
    assert s["endpoints"] == 2 and s["problems"] == []
    # central sees both endpoints, each endpoint sees the central one; everyone hears both
    assert (s["video_streams"], s["audio_streams"]) == (4, 6)
    # End to end (publisher to subscriber, in the load) contains the bridge's own part.
    assert s["latency_e2e_p50_ms"] >= s["latency_p50_ms"] > 0
    assert s["latency_e2e_p99_ms"] >= s["latency_p99_ms"]
    assert s["audio_latency_e2e_p99_ms"] >= s["audio_latency_p99_ms"] > 0
    # Nearly every video frame received was marked and timed (in flight at the edges aside).
    windows = s["windows"]
    assert s["latency_e2e_frames"] >= windows["all"]["video_frames_received"] // 2 > 0
    # The kind windows forwarded their kind only, and explain the whole run's CPU.
    assert windows["audio"]["video_packets_forwarded"] == 0 < s["us_per_audio_packet"]
    assert windows["video"]["audio_packets_forwarded"] == 0 < s["us_per_video_frame"]
    kinds = windows["audio"]["cores"] + windows["video"]["cores"]
    assert 0.5 < kinds / windows["all"]["cores"] < 3, windows
    assert s["baseline_endpoints"] is None or s["baseline_endpoints"] <= 2
    assert all(t["saturated"] for t in s["baseline_sizes_tried"][:-1])
    assert not multiprocessing.active_children()


@pytest.mark.timeout(120)
def test_a_run_whose_load_generator_saturates_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["--endpoints", "1", "--duration", "2", "--json", "--hog-generator", "0.9"])

    out = capsys.readouterr().out.strip().splitlines()
    s = json.loads(out[-1])
    assert code == 1 and not s["valid"]
    # Its CPU (when the host gives it a core) and its loop's lag name the generator.
    reason = s["invalid_reason"]
    assert "the generator's event loop ran" in reason or "load generator used" in reason, reason
    assert out[-2].startswith("machine:") and any(line.startswith("INVALID RUN") for line in out)
    assert s["baseline_endpoints"] is None and s["cpu_ratio_vs_transcode"] is None
    assert not multiprocessing.active_children()
