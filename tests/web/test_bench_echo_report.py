"""`tiepdan bench echo`'s figures and verdicts, from hand-built getStats samples: each bound
that makes a run invalid (or not comparable) is crossed once, and the rates are exact."""

from __future__ import annotations

from typing import Any

import pytest

from web.bench_echo.report import PageFigures, Side, lines, page_figures, summary


def sample(
    at_s: float,
    frames: int,
    kbytes: float,
    received: int = 0,
    lost: int = 0,
    captured: int | None = None,
    encoded: int | None = None,
    cpu_limited_s: float = 0.0,
    codec: str = "video/VP8",
    width: int = 640,
    height: int = 480,
) -> dict[str, Any]:
    ms = at_s * 1000.0
    return {
        "camera_fps": 20,
        "error": None,
        "state": "connected",
        "inbound": {
            "timestamp": ms,
            "frames_decoded": frames,
            "frame_width": width,
            "frame_height": height,
            "bytes_received": kbytes * 1000,
            "packets_received": received,
            "packets_lost": lost,
            "codec": codec,
        },
        "outbound": {
            "timestamp": ms,
            "frames_encoded": frames if encoded is None else encoded,
            "frame_width": width,
            "cpu_limited_s": cpu_limited_s,
            "bandwidth_limited_s": 0.0,
            "codec": codec,
        },
        "source": {"timestamp": ms, "frames": frames if captured is None else captured},
    }


def good_page(i: int, kbytes_per_s: float = 60.0) -> PageFigures:
    # 10 s at 20 fps; 60 kB/s is 480 kbit/s.
    return page_figures(
        i, sample(5, 100, 0, 1000, 10), sample(15, 300, 10 * kbytes_per_s, 2990, 20)
    )


def side(name: str, pages: list[PageFigures], cpu_s: float, wall_s: float = 10.0) -> Side:
    return Side(name, tuple(pages), cpu_s, wall_s)


def run(tiepdan: list[PageFigures], janus: list[PageFigures] | None = None) -> dict[str, Any]:
    janus = janus if janus is not None else [good_page(i) for i in range(len(tiepdan))]
    return summary(side("tiepdan", tiepdan, 1.2), side("janus", janus, 0.6), len(tiepdan))


def test_rates_are_exact_and_a_sound_run_is_valid_and_comparable() -> None:
    p = good_page(0)
    assert p.fps == pytest.approx(20.0)
    assert p.kbps == pytest.approx(480.0)
    assert p.loss_pct == pytest.approx(100 * 10 / (1990 + 10))
    assert p.captured_fps == pytest.approx(20.0) and p.sent_fps == pytest.approx(20.0)
    result = run([good_page(i) for i in range(6)])
    assert result["valid"] is True and result["invalid_reason"] == ""
    # 1.2 CPU s over 10 s for 6 streams: 2% of a core each; Janus 0.6 s: 1%.
    assert result["tiepdan_cpu_per_stream_pct"] == pytest.approx(2.0)
    assert result["janus_cpu_per_stream_pct"] == pytest.approx(1.0)
    assert result["ratio_vs_janus"] == pytest.approx(2.0)
    assert result["tiepdan_fps_min"] == 20.0 and result["janus_fps_mean"] == 20.0
    assert result["tiepdan_resolution_min"] == "640x480"
    assert result["comparable"] is True and result["bitrate_share_vs_janus"] == 1.0
    assert not any("INVALID" in line for line in lines(result))


def test_a_page_that_got_no_video_back_makes_the_run_invalid() -> None:
    first = sample(5, 100, 0)
    silent = page_figures(1, {"state": "connecting"}, {"state": "failed", "error": None})
    frozen = page_figures(2, first, sample(15, 100, 0))  # connected, but no frame decoded
    result = run([good_page(0), silent, frozen])
    assert result["valid"] is False
    assert "tiepdan page 1 did not connect" in result["invalid_reason"]
    assert "tiepdan page 2 received no video" in result["invalid_reason"]
    assert result["tiepdan_fps_min"] is None  # never a figure made up for the silent page
    assert any(line.startswith("  INVALID RUN") for line in lines(result))


def test_a_page_that_failed_to_open_makes_the_run_invalid() -> None:
    result = run([good_page(0), PageFigures(1, "the page did not open: timeout")])
    assert result["valid"] is False
    assert "page 1 did not connect: the page did not open" in result["invalid_reason"]


@pytest.mark.parametrize(
    ("captured", "cpu_limited_s", "why"),
    [
        (170, 0.0, "captured 17.0 fps of its camera's 20"),  # 17 < 0.9 × 20
        (200, 2.0, "CPU-limited 20% of the window"),
    ],
)
def test_starved_browsers_make_the_run_invalid(
    captured: int, cpu_limited_s: float, why: str
) -> None:
    starved = page_figures(
        0, sample(5, 0, 0), sample(15, 200, 600, captured=captured, cpu_limited_s=cpu_limited_s)
    )
    result = run([starved])
    assert result["valid"] is False
    assert "the browsers starved" in result["invalid_reason"] and why in result["invalid_reason"]


def test_just_within_the_starvation_bounds_is_valid() -> None:
    ok = page_figures(
        0, sample(5, 0, 0), sample(15, 180, 600, captured=180, cpu_limited_s=1.0)
    )  # 18 fps = 0.9 × 20; CPU-limited 10%
    assert run([ok])["valid"] is True


def test_another_codec_makes_the_run_invalid() -> None:
    h264 = page_figures(0, sample(5, 0, 0), sample(15, 200, 600, codec="video/H264"))
    result = run([good_page(0)], [h264])
    assert (
        result["valid"] is False and "janus page 0 received video/H264" in result["invalid_reason"]
    )


def test_no_cpu_read_means_no_ratio_and_an_invalid_run() -> None:
    result = summary(side("tiepdan", [good_page(0)], 0.0), side("janus", [good_page(0)], 0.3), 1)
    assert result["ratio_vs_janus"] is None and result["tiepdan_cpu_per_stream_pct"] == 0.0
    assert result["valid"] is False and "tiepdan: no CPU time read" in result["invalid_reason"]


def test_a_missing_side_is_invalid_with_its_reason() -> None:
    result = summary(
        side("tiepdan", [good_page(0)], 0.1),
        Side("janus", (), 0.0, 0.0),
        1,
        ("janus: /usr/bin/janus is missing",),
    )
    assert result["valid"] is False
    assert result["invalid_reason"].startswith("janus: /usr/bin/janus is missing")
    assert "janus: 0 pages measured of 1" in result["invalid_reason"]


def test_a_bitrate_more_than_ten_percent_below_janus_is_not_comparable() -> None:
    result = run([good_page(0, kbytes_per_s=53.0)])  # 424 of 480 kbit/s: 0.883
    assert result["valid"] is True and result["comparable"] is False
    assert result["bitrate_share_vs_janus"] == pytest.approx(0.883)
    assert any("NOT COMPARABLE" in line for line in lines(result))
    assert run([good_page(0, kbytes_per_s=54.0)])["comparable"] is True  # 432: 0.9


def test_the_smallest_resolution_is_reported() -> None:
    small = page_figures(1, sample(5, 0, 0), sample(15, 200, 600, width=320, height=240))
    result = run([good_page(0), small])
    assert result["tiepdan_resolution_min"] == "320x240"
    assert (result["tiepdan_width_min"], result["tiepdan_height_min"]) == (320, 240)
