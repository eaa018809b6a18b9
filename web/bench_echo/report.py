"""The figures of `tiepdan bench echo`, from two getStats samples per page and two CPU
readings per server; whether the run is valid and comparable; the printed report.

Pure: the bench hands in what it read, nothing here touches a process or a page. No figure
is clamped: a rate that cannot be computed is None and makes the run invalid instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SIDES = ("tiepdan", "janus")
# A page whose camera delivered fewer frames than this share of its rate, or whose encoder
# was held back for CPU longer than this share of the window, was starved by the load
# itself (the browsers), not by the server: such a run measures the machine.
MIN_CAPTURE_SHARE = 0.9
MAX_CPU_LIMITED_SHARE = 0.1
# tiepdan delivering less than this share of Janus's bitrate is cheaper only because it
# carries less: not comparable.
COMPARABLE_BITRATE_SHARE = 0.9
CODEC = "video/VP8"


@dataclass(frozen=True, slots=True)
class PageFigures:
    """One page over the measured window: what it received of its own video, what it sent."""

    index: int
    error: str = ""
    fps: float | None = None  # frames decoded per second, received back
    width: int = 0
    height: int = 0
    kbps: float | None = None  # received video, kbit/s
    loss_pct: float | None = None
    codec: str = ""
    sent_fps: float | None = None
    captured_fps: float | None = None
    camera_fps: float | None = None
    cpu_limited_share: float | None = None
    bandwidth_limited_share: float | None = None  # of the window the encoder held back
    send_estimate_kbps: float | None = None  # the browser's own estimate, at the end
    target_kbps: float | None = None  # what its encoder was asked for, at the end


@dataclass(frozen=True, slots=True)
class Side:
    """One server's run: its pages, and its process's CPU seconds over `wall_s`."""

    name: str
    pages: tuple[PageFigures, ...]
    cpu_s: float
    wall_s: float
    notes: tuple[str, ...] = field(default=())

    @property
    def cpu_per_stream_pct(self) -> float | None:
        if self.wall_s <= 0 or not self.pages:
            return None
        return 100.0 * self.cpu_s / self.wall_s / len(self.pages)


def _rate(delta: float, seconds: float) -> float | None:
    return delta / seconds if seconds > 0 else None


def page_figures(index: int, first: dict[str, Any], last: dict[str, Any]) -> PageFigures:
    """A page's figures between two samples of `page.js`'s `sample()` (timestamps in ms)."""
    error = str(last.get("error") or "")
    a, b = first.get("inbound"), last.get("inbound")
    if a is None or b is None:
        return PageFigures(index, error or f"no received video (connection {last.get('state')})")
    seconds = (b["timestamp"] - a["timestamp"]) / 1000.0
    got = b["packets_received"] - a["packets_received"]
    lost = b["packets_lost"] - a["packets_lost"]
    loss = 100.0 * lost / (got + lost) if got + lost > 0 else None
    kbps = _rate((b["bytes_received"] - a["bytes_received"]) * 8 / 1000.0, seconds)
    out_a, out_b = first.get("outbound"), last.get("outbound")
    sent = cpu_share = bandwidth_share = estimate = target = None
    if out_b is not None:
        if out_b.get("send_estimate") is not None:
            estimate = out_b["send_estimate"] / 1000.0
        if out_b.get("target_bitrate") is not None:
            target = out_b["target_bitrate"] / 1000.0
    if out_a is not None and out_b is not None:
        out_s = (out_b["timestamp"] - out_a["timestamp"]) / 1000.0
        sent = _rate(out_b["frames_encoded"] - out_a["frames_encoded"], out_s)
        cpu_share = _rate(out_b["cpu_limited_s"] - out_a["cpu_limited_s"], out_s)
        bandwidth_share = _rate(
            out_b.get("bandwidth_limited_s", 0) - out_a.get("bandwidth_limited_s", 0), out_s
        )
    src_a, src_b = first.get("source"), last.get("source")
    captured = None
    if src_a is not None and src_b is not None:
        src_s = (src_b["timestamp"] - src_a["timestamp"]) / 1000.0
        captured = _rate(src_b["frames"] - src_a["frames"], src_s)
    camera = last.get("camera_fps")
    return PageFigures(
        index,
        error,
        _rate(b["frames_decoded"] - a["frames_decoded"], seconds),
        int(b["frame_width"]),
        int(b["frame_height"]),
        kbps,
        loss,
        str(b["codec"]),
        sent,
        captured,
        float(camera) if camera else None,
        cpu_share,
        bandwidth_share,
        estimate,
        target,
    )


def _page_problems(side: str, p: PageFigures) -> list[str]:
    who = f"{side} page {p.index}"
    if p.error and p.fps is None:
        return [f"{who} did not connect: {p.error}"]
    if p.fps is None or p.fps <= 0 or p.width <= 0 or p.height <= 0:
        return [f"{who} received no video" + (f" ({p.error})" if p.error else "")]
    out = [f"{who}: {p.error}"] if p.error else []
    if p.codec != CODEC:
        out.append(f"{who} received {p.codec or 'an unknown codec'}, not {CODEC}")
    if p.camera_fps is None or p.captured_fps is None:
        out.append(f"{who}: the camera's frame rate could not be read")
    elif p.captured_fps < MIN_CAPTURE_SHARE * p.camera_fps:
        out.append(
            f"the browsers starved: {who} captured {p.captured_fps:.1f} fps "
            f"of its camera's {p.camera_fps:.0f}"
        )
    if p.cpu_limited_share is not None and p.cpu_limited_share > MAX_CPU_LIMITED_SHARE:
        out.append(
            f"the browsers starved: {who}'s encoder was CPU-limited "
            f"{100 * p.cpu_limited_share:.0f}% of the window"
        )
    return out


def problems(side: Side, browsers: int) -> list[str]:
    """Why this side's figures cannot be trusted; empty when they can."""
    out: list[str] = []
    if len(side.pages) != browsers:
        out.append(f"{side.name}: {len(side.pages)} pages measured of {browsers}")
    for p in side.pages:
        out.extend(_page_problems(side.name, p))
    if side.cpu_s <= 0 or side.wall_s <= 0:
        out.append(f"{side.name}: no CPU time read for the server over {side.wall_s:.1f} s")
    return out


def _min(xs: list[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return min(vals) if len(vals) == len(xs) and vals else None


def _mean(xs: list[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return sum(vals) / len(vals) if len(vals) == len(xs) and vals else None


def _round(x: float | None, digits: int = 2) -> float | None:
    return None if x is None else round(x, digits)


def side_figures(side: Side) -> dict[str, Any]:
    """One side's figures, keyed without the side's prefix."""
    pages = side.pages
    widths = [p.width for p in pages]
    heights = [p.height for p in pages]
    return {
        "cpu_per_stream_pct": _round(side.cpu_per_stream_pct, 3),
        "cpu_cores": _round(side.cpu_s / side.wall_s if side.wall_s > 0 else None, 3),
        "fps_min": _round(_min([p.fps for p in pages]), 1),
        "fps_mean": _round(_mean([p.fps for p in pages]), 1),
        "width_min": min(widths) if widths else 0,
        "height_min": min(heights) if heights else 0,
        "resolution_min": f"{min(widths) if widths else 0}x{min(heights) if heights else 0}",
        "kbps_mean": _round(_mean([p.kbps for p in pages]), 1),
        "kbps_min": _round(_min([p.kbps for p in pages]), 1),
        "loss_pct": _round(_mean([p.loss_pct for p in pages]), 2),
        "sent_fps_min": _round(_min([p.sent_fps for p in pages]), 1),
        "captured_fps_min": _round(_min([p.captured_fps for p in pages]), 1),
        "camera_fps": _round(_min([p.camera_fps for p in pages]), 1),
        "window_s": round(side.wall_s, 2),
        "pages": [
            {
                "fps": _round(p.fps, 1),
                "resolution": f"{p.width}x{p.height}",
                "kbps": _round(p.kbps, 1),
                "loss_pct": _round(p.loss_pct, 2),
                "sent_fps": _round(p.sent_fps, 1),
                "cpu_limited_share": _round(p.cpu_limited_share, 3),
                "bandwidth_limited_share": _round(p.bandwidth_limited_share, 3),
                "send_estimate_kbps": _round(p.send_estimate_kbps, 1),
                "target_kbps": _round(p.target_kbps, 1),
                "error": p.error,
            }
            for p in pages
        ],
    }


def summary(
    tiepdan: Side, janus: Side, browsers: int, extra_problems: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The run's one JSON object: both sides' figures, the ratio, validity, comparability."""
    result: dict[str, Any] = {"browsers": browsers}
    for side in (tiepdan, janus):
        for key, value in side_figures(side).items():
            result[f"{side.name}_{key}"] = value
    ours, theirs = tiepdan.cpu_per_stream_pct, janus.cpu_per_stream_pct
    result["ratio_vs_janus"] = _round(ours / theirs if ours and theirs else None, 3)
    found = [*extra_problems, *problems(tiepdan, browsers), *problems(janus, browsers)]
    if result["ratio_vs_janus"] is None and not found:
        found.append("no ratio: a server's CPU per stream is missing")
    result["valid"] = not found
    result["invalid_reason"] = "; ".join(found)
    t_kbps, j_kbps = result["tiepdan_kbps_mean"], result["janus_kbps_mean"]
    result["bitrate_share_vs_janus"] = _round(t_kbps / j_kbps if t_kbps and j_kbps else None, 3)
    share = result["bitrate_share_vs_janus"]
    result["comparable"] = share is not None and share >= COMPARABLE_BITRATE_SHARE
    return result


def _fmt(x: Any, unit: str = "") -> str:
    return "–" if x is None else f"{x}{unit}"


def lines(result: dict[str, Any]) -> list[str]:
    """The readable report."""
    out = [f"tiepdan bench echo: {result['browsers']} Chromium echo pages per server"]
    for name in SIDES:
        r = {k[len(name) + 1 :]: v for k, v in result.items() if k.startswith(name + "_")}
        out.append(
            f"  {name:8} CPU {_fmt(r['cpu_per_stream_pct'], '%')} of a core per echoed stream "
            f"({_fmt(r['cpu_cores'])} cores over {r['window_s']} s); received "
            f"{_fmt(r['fps_min'])}–{_fmt(r['fps_mean'])} fps (min–mean), min "
            f"{r['resolution_min']}, {_fmt(r['kbps_mean'])} kbit/s mean, loss "
            f"{_fmt(r['loss_pct'], '%')}; sent ≥ {_fmt(r['sent_fps_min'])} fps, camera "
            f"{_fmt(r['camera_fps'])} fps"
        )
        for i, page in enumerate(r["pages"]):
            out.append(
                f"    page {i}: {_fmt(page['fps'])} fps {page['resolution']} "
                f"{_fmt(page['kbps'])} kbit/s loss {_fmt(page['loss_pct'], '%')} sent "
                f"{_fmt(page['sent_fps'])} fps" + (f" – {page['error']}" if page["error"] else "")
            )
    out.append(f"  ratio tiepdan / Janus (CPU per echoed stream): {_fmt(result['ratio_vs_janus'])}")
    share = result["bitrate_share_vs_janus"]
    if not result["comparable"]:
        out.append(
            f"  NOT COMPARABLE: tiepdan delivered {_fmt(share)} of Janus's bitrate "
            f"(needs ≥ {COMPARABLE_BITRATE_SHARE}): a cheaper stream that carries less"
        )
    if not result["valid"]:
        out.append(f"  INVALID RUN: {result['invalid_reason']}")
    return out
