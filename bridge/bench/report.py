"""From the runs' raw marks to the figures, the targets and the printed report.

A run of one server at one size has up to three windows (`load.py`): `all` (audio and
video), then `audio` only and `video` only, on the same peers. CPU per kind comes from the
window of that kind alone, divided by what that window forwarded; nothing is split by a
guess at what each kind costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The targets.
MIN_RATIO = 10.0
MAX_US_PER_PACKET = 50.0
MAX_LOSS_PCT = 1.0
MAX_CORES = 1.0
SUSTAIN_ENDPOINTS = 30
MAX_P99_MS = 30.0
# The load generator is one asyncio process: beyond these it measures itself, not the server.
GENERATOR_MAX_CORES = 0.85
GENERATOR_MAX_LAG_MS = 50.0


def _per(numerator: float, denominator: float, scale: float = 1.0) -> float | None:
    """numerator / denominator × scale; None when nothing was counted (no figure then)."""
    return numerator * scale / denominator if denominator else None


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True, slots=True)
class WindowFigures:
    """One window's figures."""

    seconds: float
    cores: float  # server CPU seconds per wall second
    kernel_share: float | None  # of that CPU, the part spent in the kernel (sockets, mostly)
    video_streams: int
    audio_streams: int
    video_frames: int  # complete video frames received by subscribers in the window
    audio_packets_out: int  # RTP packets the server's senders sent, per kind
    video_packets_out: int
    packets_in: int
    video_loss_pct: float | None
    audio_loss_pct: float | None
    slot_drops: int  # frames the server dropped in its slots (a subscriber behind)
    rss_per_participant: float | None  # bytes
    latency: dict[str, dict[str, Any]]  # in the server: socket arrival to departure
    e2e: dict[str, dict[str, Any]]  # in the load: send time to receive time
    problems: tuple[str, ...]
    generator: dict[str, Any]

    @property
    def invalid_reason(self) -> str | None:
        """Why this window measured its load generator rather than the server, if it did."""
        g = self.generator
        reasons = []
        if g["cores"] > GENERATOR_MAX_CORES:
            reasons.append(f"the load generator used {g['cores']:.2f} of its one core")
        if g["kernel_drops"]:
            reasons.append(f"the kernel dropped {g['kernel_drops']} UDP datagrams (RcvbufErrors)")
        if g["loop_lag_p99_ms"] > GENERATOR_MAX_LAG_MS:
            reasons.append(
                f"the generator's event loop ran {g['loop_lag_p99_ms']:.0f} ms late (p99)"
            )
        return "; ".join(reasons) or None

    @property
    def cpu_s(self) -> float:
        return self.cores * self.seconds

    @property
    def packets_out(self) -> int:
        return self.audio_packets_out + self.video_packets_out

    @property
    def loss_pct(self) -> float | None:
        known = [v for v in (self.video_loss_pct, self.audio_loss_pct) if v is not None]
        return max(known) if known else None

    @property
    def us_per_packet(self) -> float | None:
        return _per(self.cpu_s, self.packets_out, 1e6)

    @property
    def us_per_video_frame(self) -> float | None:
        return _per(self.cpu_s, self.video_frames, 1e6)

    @property
    def us_per_audio_packet(self) -> float | None:
        return _per(self.cpu_s, self.audio_packets_out, 1e6)

    @property
    def cores_per_video_stream(self) -> float | None:
        return _per(self.cores, self.video_streams)

    @property
    def cores_per_audio_stream(self) -> float | None:
        return _per(self.cores, self.audio_streams)

    def size(self) -> dict[str, Any]:
        """What this window forwarded: what its per-unit figures are divided by."""
        return {
            "seconds": round(self.seconds, 2),
            "cores": round(self.cores, 3),
            "audio_streams": self.audio_streams,
            "video_streams": self.video_streams,
            "audio_packets_forwarded": self.audio_packets_out,
            "video_packets_forwarded": self.video_packets_out,
            "video_frames_received": self.video_frames,
            "frames_lost_pct": _round(self.loss_pct, 3),
            "generator_cores": round(self.generator["cores"], 3),
            "loadavg_1min": _round(self.generator.get("loadavg_1min"), 2),
        }


def _loss(row: dict[str, int]) -> float | None:
    """Frames expected but not received, % (negative if more came than were sent: a
    counting error shown, not hidden); None when nothing was expected."""
    expected = row["expected"]
    return 100.0 * (expected - row["received"]) / expected if expected else None


def window_figures(window: dict[str, Any]) -> WindowFigures:
    start, end, frames = window["start"], window["end"], window["frames"]
    seconds = end["wall"] - start["wall"]
    out = {k: end["packets_out"][k] - start["packets_out"][k] for k in ("audio", "video")}
    cpu = end["cpu"] - start["cpu"]
    participants = end["participants"]
    return WindowFigures(
        seconds=seconds,
        cores=cpu / seconds,
        kernel_share=_per(end["sys"] - start["sys"], cpu),
        video_streams=frames["video"]["streams"],
        audio_streams=frames["audio"]["streams"],
        video_frames=frames["video"]["received"],
        audio_packets_out=out["audio"],
        video_packets_out=out["video"],
        packets_in=end["packets_in"] - start["packets_in"],
        video_loss_pct=_loss(frames["video"]),
        audio_loss_pct=_loss(frames["audio"]),
        slot_drops=end["slot_drops"] - start["slot_drops"],
        rss_per_participant=_per(end["rss"] - end["idle_rss"], participants),
        latency=end["latency"],
        e2e=window["e2e"],
        problems=tuple(window["problems"]),
        generator=window["generator"],
    )


@dataclass(frozen=True, slots=True)
class RunFigures:
    """One server at one size: its windows (`all`, and `audio` and `video` alone; absent
    when the run stopped early) and what went wrong before them."""

    endpoints: int
    windows: dict[str, WindowFigures]
    problems: tuple[str, ...]  # of the warm-up

    @property
    def all(self) -> WindowFigures | None:
        return self.windows.get("all")

    @property
    def invalid_reason(self) -> str | None:
        """Why this run measured its load generator, in any of its windows."""
        reasons = [
            f"{name} window: {w.invalid_reason}"
            for name, w in self.windows.items()
            if w.invalid_reason
        ]
        return "; ".join(reasons) or None

    @property
    def unfit_reason(self) -> str | None:
        """Why the windows did not measure the topology asked for: a warm-up that did not
        feed every slot, peers down or slots switched in a window."""
        problems = [*self.problems, *(p for w in self.windows.values() for p in w.problems)]
        return "; ".join(problems) or (None if self.all else "no window was measured")

    @property
    def saturated_reason(self) -> str | None:
        """Why the server could not carry this size: its generator saturated, the topology
        was not up, or at least MAX_LOSS_PCT of some kind's frames were lost with
        everything on."""
        if self.invalid_reason or self.unfit_reason or self.all is None:
            return self.invalid_reason or self.unfit_reason
        loss = self.all.loss_pct
        if loss is None or loss >= MAX_LOSS_PCT:
            return f"{'no' if loss is None else f'{loss:.1f}%'} frames lost"
        return None

    def generator(self) -> dict[str, Any]:
        """The generator's worst figures over the windows (its kernel drops summed)."""
        gs = [w.generator for w in self.windows.values()]
        drops = [g["kernel_drops"] for g in gs]
        return {
            "cores": max((g["cores"] for g in gs), default=None),
            "kernel_drops": None if None in drops or not drops else sum(drops),
            "loop_lag_p99_ms": max((g["loop_lag_p99_ms"] for g in gs), default=None),
        }


def figures(endpoints: int, result: dict[str, Any]) -> RunFigures:
    windows = {name: window_figures(w) for name, w in result["windows"].items()}
    return RunFigures(endpoints, windows, tuple(result["problems"]))


def baseline_sizes(endpoints: int) -> list[int]:
    """The sizes the baseline is tried at, largest first, until one is not saturated: the
    bridge's own, then halved down to 1."""
    sizes = [endpoints]
    while sizes[-1] > 1:
        sizes.append(sizes[-1] // 2)
    return sizes


def _ms(histogram: dict[str, Any], key: str) -> float | None:
    value = histogram.get(key)
    return None if value is None else float(value)


KIND_KEYS = {  # each from the window of its kind alone; its digits when printed
    "us_per_audio_packet": 1,
    "us_per_video_frame": 1,
    "cpu_per_audio_stream_pct": 3,
    "cpu_per_video_stream_pct": 3,
}


def per_kind(run: RunFigures) -> dict[str, float | None]:
    """CPU per stream and per unit of each kind, each from its own window (unrounded)."""
    audio, video = run.windows.get("audio"), run.windows.get("video")
    per_audio = None if audio is None else audio.cores_per_audio_stream
    per_video = None if video is None else video.cores_per_video_stream
    return {
        "us_per_audio_packet": None if audio is None else audio.us_per_audio_packet,
        "us_per_video_frame": None if video is None else video.us_per_video_frame,
        "cpu_per_audio_stream_pct": None if per_audio is None else 100 * per_audio,
        "cpu_per_video_stream_pct": None if per_video is None else 100 * per_video,
    }


def _kind_figures(run: RunFigures, prefix: str) -> dict[str, float | None]:
    return {f"{prefix}{k}": _round(v, KIND_KEYS[k]) for k, v in per_kind(run).items()}


def _ratio(
    ours: dict[str, float | None], base: dict[str, float | None] | None, key: str
) -> float | None:
    """Baseline / bridge for one figure of the same kind."""
    a, b = ours[key], None if base is None else base[key]
    return None if a is None or b is None or a == 0 else round(b / a, 1)


def _ours(run: RunFigures) -> dict[str, Any]:
    w = run.all
    assert w is not None  # the bridge's run always measures its windows
    g = run.generator()
    return {
        "valid": True,
        "invalid_reason": None,
        "generator_cores": _round(g["cores"], 3),
        "generator_kernel_drops": g["kernel_drops"],
        "generator_loop_lag_p99_ms": _round(g["loop_lag_p99_ms"], 1),
        "us_per_packet": _round(w.us_per_packet, 1),
        **_kind_figures(run, ""),
        "latency_p99_ms": _ms(w.latency["video"], "p99_ms"),
        "latency_e2e_p99_ms": _ms(w.e2e["video"], "p99_ms"),
        "frames_lost_pct": _round(w.loss_pct, 3),
        "endpoints": run.endpoints,
        "cores_used": round(w.cores, 3),
        "kernel_cpu_pct": _round(w.kernel_share and 100 * w.kernel_share, 1),
        "latency_p50_ms": _ms(w.latency["video"], "p50_ms"),
        "latency_e2e_p50_ms": _ms(w.e2e["video"], "p50_ms"),
        "latency_e2e_frames": w.e2e["video"]["count"],
        "audio_latency_p99_ms": _ms(w.latency["audio"], "p99_ms"),
        "audio_latency_e2e_p50_ms": _ms(w.e2e["audio"], "p50_ms"),
        "audio_latency_e2e_p99_ms": _ms(w.e2e["audio"], "p99_ms"),
        "video_frames_lost_pct": _round(w.video_loss_pct, 3),
        "audio_frames_lost_pct": _round(w.audio_loss_pct, 3),
        "frames_dropped_by_bridge": w.slot_drops,
        "video_streams": w.video_streams,
        "audio_streams": w.audio_streams,
        "packets_forwarded": w.packets_out,
        "packets_received": w.packets_in,
        "memory_per_participant_mb": _round(
            w.rss_per_participant and w.rss_per_participant / 2**20, 2
        ),
        "seconds": round(w.seconds, 2),
        "windows": {name: v.size() for name, v in run.windows.items()},
    }


def _base(base: RunFigures | None, tried: list[dict[str, Any]]) -> dict[str, Any]:
    w = None if base is None else base.all
    out: dict[str, Any] = {
        "baseline_endpoints": None if base is None else base.endpoints,
        "baseline_sizes_tried": tried,
    }
    if base is None or w is None:
        return out
    return out | {
        "baseline_cores_used": round(w.cores, 3),
        **_kind_figures(base, "baseline_"),
        "baseline_video_frames_lost_pct": _round(w.video_loss_pct, 3),
        "baseline_audio_frames_lost_pct": _round(w.audio_loss_pct, 3),
        "baseline_video_streams": w.video_streams,
        "baseline_audio_streams": w.audio_streams,
        "baseline_windows": {name: v.size() for name, v in base.windows.items()},
    }


def summary(
    ours: RunFigures, base: RunFigures | None, tried: list[dict[str, Any]]
) -> dict[str, Any]:
    """The JSON object: the issue's keys first, then the details behind them. `tried`: the
    baseline's sizes and, for each, why it was saturated (None for the one measured)."""
    s = _ours(ours)
    mine, theirs = per_kind(ours), None if base is None or base.all is None else per_kind(base)
    s["cpu_ratio_vs_transcode"] = _ratio(mine, theirs, "cpu_per_video_stream_pct")
    s["cpu_ratio_vs_transcode_audio"] = _ratio(mine, theirs, "cpu_per_audio_stream_pct")
    s["cpu_ratio_per_video_frame"] = _ratio(mine, theirs, "us_per_video_frame")
    s["cpu_ratio_per_audio_packet"] = _ratio(mine, theirs, "us_per_audio_packet")
    s |= _base(base, tried)
    reasons = [r for r in (ours.invalid_reason,) if r]
    if ours.unfit_reason:
        reasons.append(f"the topology was not up: {ours.unfit_reason}")
    if base is None and tried:
        reasons.append("baseline: no size was carried (see baseline_sizes_tried)")
    s["valid"] = not reasons
    s["invalid_reason"] = "; ".join(reasons) or None
    w = ours.all
    assert w is not None
    loss, p99, ratio = w.loss_pct, s["latency_p99_ms"], s["cpu_ratio_vs_transcode"]
    s["targets"] = {
        "cpu_ratio": ratio is not None and ratio >= MIN_RATIO,
        "us_per_packet": s["us_per_packet"] is not None and s["us_per_packet"] <= MAX_US_PER_PACKET,
        "sustained_30_on_one_core": ours.endpoints >= SUSTAIN_ENDPOINTS
        and w.cores < MAX_CORES
        and loss is not None
        and loss < MAX_LOSS_PCT,
        "latency_p99": p99 is not None and p99 < MAX_P99_MS,
    }
    s["problems"] = [*ours.problems, *(p for v in ours.windows.values() for p in v.problems)]
    return s


def _mark(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _size_line(name: str, size: dict[str, Any]) -> str:
    return (
        f"    {name} window: {size['seconds']} s, {size['cores']} cores, "
        f"{size['audio_streams']} audio / {size['video_streams']} video streams, "
        f"{size['audio_packets_forwarded']} audio and {size['video_packets_forwarded']} video "
        f"packets forwarded, {size['video_frames_received']} video frames received, "
        f"{size['frames_lost_pct']}% frames lost; generator {size['generator_cores']} cores, "
        f"machine load {size['loadavg_1min']}"
    )


def _baseline_lines(s: dict[str, Any]) -> list[str]:
    tried = [
        f"1 central + {t['endpoints']}: saturated ({t['saturated']})"
        for t in s["baseline_sizes_tried"]
        if t["saturated"]
    ]
    n = s["baseline_endpoints"]
    if n is None or "baseline_cores_used" not in s:
        return [
            "baseline (decode + re-encode): not measured"
            + (f"; {'; '.join(tried)}" if tried else " (the bridge's run was invalid)")
        ]
    same = "the same topology" if n == s["endpoints"] else "a smaller topology than the bridge's"
    return [
        f"baseline (decode + re-encode): 1 central + {n} endpoints ({same}), "
        f"{s['baseline_video_streams']} video and {s['baseline_audio_streams']} audio streams, "
        f"{s['baseline_cores_used']:.3f} cores; video frames lost "
        f"{s['baseline_video_frames_lost_pct']}%, audio {s['baseline_audio_frames_lost_pct']}%",
        *(f"  tried first: {t}" for t in tried),
        f"  per stream: {s['baseline_cpu_per_video_stream_pct']}% of a core per video stream "
        f"(video alone), {s['baseline_cpu_per_audio_stream_pct']}% per audio stream (audio "
        f"alone); {s['baseline_us_per_video_frame']} µs per video frame, "
        f"{s['baseline_us_per_audio_packet']} µs per audio packet",
        *(_size_line(name, size) for name, size in s["baseline_windows"].items()),
        f"  CPU ratio baseline / bridge, per stream of the same kind: video "
        f"{s['cpu_ratio_vs_transcode']}×, audio {s['cpu_ratio_vs_transcode_audio']}×; per "
        f"video frame {s['cpu_ratio_per_video_frame']}×, per audio packet "
        f"{s['cpu_ratio_per_audio_packet']}×   target ≥ {MIN_RATIO:.0f}× (video): "
        f"{_mark(s['targets']['cpu_ratio'])}",
    ]


def lines(s: dict[str, Any]) -> list[str]:
    """The human-readable report."""
    t = s["targets"]
    n = s["endpoints"]
    return [
        f"bridge: 1 central + {n} endpoints, {s['video_streams']} video and "
        f"{s['audio_streams']} audio streams forwarded for {s['seconds']} s",
        f"  bridge process CPU: {s['cores_used']:.3f} cores ({s['kernel_cpu_pct']}% in the "
        f"kernel); per forwarded RTP packet {s['us_per_packet']} µs "
        f"({s['packets_forwarded']} sent, {s['packets_received']} received)"
        f"   target ≤ {MAX_US_PER_PACKET:.0f} µs: {_mark(t['us_per_packet'])}",
        f"  each kind alone (the other paused, same peers): {s['us_per_audio_packet']} µs per "
        f"audio packet, {s['us_per_video_frame']} µs per video frame; "
        f"{s['cpu_per_audio_stream_pct']}% of a core per audio stream, "
        f"{s['cpu_per_video_stream_pct']}% per video stream",
        *(_size_line(name, size) for name, size in s["windows"].items()),
        f"  bridge-added latency (socket arrival of a frame's last packet → its departure to "
        f"each subscriber), video: p50 {s['latency_p50_ms']} ms, "
        f"p99 {s['latency_p99_ms']} ms (audio p99 {s['audio_latency_p99_ms']} ms)"
        f"   target p99 < {MAX_P99_MS:.0f} ms: {_mark(t['latency_p99'])}",
        f"  end to end (sent by a publisher → received by each subscriber, one clock; "
        f"{s['latency_e2e_frames']} video frames), video: p50 {s['latency_e2e_p50_ms']} ms, "
        f"p99 {s['latency_e2e_p99_ms']} ms (audio p50 {s['audio_latency_e2e_p50_ms']}, "
        f"p99 {s['audio_latency_e2e_p99_ms']} ms)",
        f"  memory per participant: {s['memory_per_participant_mb']} MB",
        f"  frames lost: video {s['video_frames_lost_pct']}%, audio {s['audio_frames_lost_pct']}%",
        f"  1 central + {SUSTAIN_ENDPOINTS} on one core, < {MAX_LOSS_PCT:.0f}% lost: "
        f"{_mark(t['sustained_30_on_one_core'])}"
        + ("" if n >= SUSTAIN_ENDPOINTS else f" (this run had {n} endpoints)"),
        *_baseline_lines(s),
        *(f"  problem: {p}" for p in s["problems"]),
        f"load generator (worst window): {s['generator_cores']:.3f} cores, event loop p99 late "
        f"{s['generator_loop_lag_p99_ms']} ms, kernel UDP drops in the windows: "
        f"{s['generator_kernel_drops']}",
        *([f"INVALID RUN: {s['invalid_reason']}"] if not s["valid"] else []),
    ]


def machine_line(machine: dict[str, Any]) -> str:
    return (
        f"machine: {machine['cpus']} CPUs, load average {machine['loadavg_1min_before']} before "
        "the run (the load process shares them; other work skews every figure)"
    )
