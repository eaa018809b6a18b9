"""From the two runs' raw marks to the figures, the targets and the printed report."""

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


@dataclass(frozen=True, slots=True)
class RunFigures:
    """One run's figures over its measurement window."""

    endpoints: int
    seconds: float
    cores: float  # server CPU seconds per wall second
    kernel_share: float  # of that CPU, the part spent in the kernel (sockets, mostly)
    video_streams: int
    audio_streams: int
    video_frames: int  # received by subscribers in the window
    packets_out: int
    packets_in: int
    video_loss_pct: float
    audio_loss_pct: float
    slot_drops: int  # frames the server dropped in its slots (a subscriber behind)
    rss_per_participant: float  # bytes
    latency: dict[str, dict[str, float]]
    problems: tuple[str, ...]
    generator: dict[str, Any]

    @property
    def invalid_reason(self) -> str | None:
        """Why this run measured its load generator rather than the server, if it did."""
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
    def cores_per_video_stream(self) -> float:
        return self.cores / self.video_streams if self.video_streams else float("inf")

    @property
    def us_per_video_frame(self) -> float:
        cpu = self.cores * self.seconds
        return cpu * 1e6 / self.video_frames if self.video_frames else float("inf")

    @property
    def us_per_packet(self) -> float:
        cpu = self.cores * self.seconds
        return cpu * 1e6 / self.packets_out if self.packets_out else float("inf")


def _loss(row: dict[str, int]) -> float:
    expected = row["expected"]
    return max(0.0, 100.0 * (expected - row["received"]) / expected) if expected else 100.0


def figures(endpoints: int, result: dict[str, Any]) -> RunFigures:
    start, end, frames = result["start"], result["end"], result["frames"]
    seconds = end["wall"] - start["wall"]
    out = {k: end["packets_out"][k] - start["packets_out"][k] for k in ("audio", "video")}
    participants = max(1, end["participants"])
    return RunFigures(
        endpoints=endpoints,
        seconds=seconds,
        cores=(end["cpu"] - start["cpu"]) / seconds,
        kernel_share=(end["sys"] - start["sys"]) / max(1e-9, end["cpu"] - start["cpu"]),
        video_streams=frames["video"]["streams"],
        audio_streams=frames["audio"]["streams"],
        video_frames=frames["video"]["received"],
        packets_out=out["audio"] + out["video"],
        packets_in=end["packets_in"] - start["packets_in"],
        video_loss_pct=_loss(frames["video"]),
        audio_loss_pct=_loss(frames["audio"]),
        slot_drops=end["slot_drops"] - start["slot_drops"],
        rss_per_participant=(end["rss"] - end["idle_rss"]) / participants,
        latency=end["latency"],
        problems=tuple(result["problems"]),
        generator=result["generator"],
    )


def summary(ours: RunFigures, base: RunFigures) -> dict[str, Any]:
    """The JSON object: the issue's keys first, then the details behind them."""
    ratio = base.cores_per_video_stream / ours.cores_per_video_stream
    loss = max(ours.video_loss_pct, ours.audio_loss_pct)
    p99 = ours.latency["video"]["p99_ms"]
    sustained = (
        ours.endpoints >= SUSTAIN_ENDPOINTS and ours.cores < MAX_CORES and loss < MAX_LOSS_PCT
    )
    reasons = [r for r in (ours.invalid_reason, base.invalid_reason) if r]
    if base.invalid_reason:
        reasons[-1] = f"baseline: {base.invalid_reason}"
    g = ours.generator
    return {
        "valid": not reasons,
        "invalid_reason": "; ".join(reasons) or None,
        "generator_cores": round(g["cores"], 3),
        "generator_kernel_drops": g["kernel_drops"],
        "generator_loop_lag_p99_ms": round(g["loop_lag_p99_ms"], 1),
        "cpu_ratio_vs_transcode": round(ratio, 1),
        "us_per_packet": round(ours.us_per_packet, 1),
        "latency_p99_ms": p99,
        "frames_lost_pct": round(loss, 3),
        "endpoints": ours.endpoints,
        "cores_used": round(ours.cores, 3),
        "kernel_cpu_pct": round(100 * ours.kernel_share, 1),
        "latency_p50_ms": ours.latency["video"]["p50_ms"],
        "audio_latency_p99_ms": ours.latency["audio"]["p99_ms"],
        "video_frames_lost_pct": round(ours.video_loss_pct, 3),
        "audio_frames_lost_pct": round(ours.audio_loss_pct, 3),
        "frames_dropped_by_bridge": ours.slot_drops,
        "cpu_per_video_stream_pct": round(100 * ours.cores_per_video_stream, 3),
        "us_per_video_frame": round(ours.us_per_video_frame, 1),
        "video_streams": ours.video_streams,
        "audio_streams": ours.audio_streams,
        "packets_forwarded": ours.packets_out,
        "packets_received": ours.packets_in,
        "memory_per_participant_mb": round(ours.rss_per_participant / 2**20, 2),
        "seconds": round(ours.seconds, 2),
        "baseline_endpoints": base.endpoints,
        "baseline_cores_used": round(base.cores, 3),
        "baseline_cpu_per_video_stream_pct": round(100 * base.cores_per_video_stream, 2),
        "baseline_us_per_video_frame": round(base.us_per_video_frame, 1),
        "cpu_ratio_per_video_frame": round(base.us_per_video_frame / ours.us_per_video_frame, 1),
        "baseline_video_frames_lost_pct": round(base.video_loss_pct, 3),
        "targets": {
            "cpu_ratio": ratio >= MIN_RATIO,
            "us_per_packet": ours.us_per_packet <= MAX_US_PER_PACKET,
            "sustained_30_on_one_core": sustained,
            "latency_p99": p99 < MAX_P99_MS,
        },
        "problems": [*ours.problems, *(f"baseline: {p}" for p in base.problems)],
    }


def _mark(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def lines(s: dict[str, Any]) -> list[str]:
    """The human-readable report."""
    t = s["targets"]
    n = s["endpoints"]
    return [
        f"bridge: 1 central + {n} endpoints, {s['video_streams']} video and "
        f"{s['audio_streams']} audio streams forwarded for {s['seconds']} s",
        f"  bridge process CPU: {s['cores_used']:.3f} cores ({s['kernel_cpu_pct']}% in the "
        "kernel); "
        f"{s['cpu_per_video_stream_pct']:.3f}% of a core per forwarded video stream "
        f"(all its CPU / video streams); {s['us_per_video_frame']} µs per video frame",
        f"  per forwarded RTP packet: {s['us_per_packet']} µs "
        f"({s['packets_forwarded']} sent, {s['packets_received']} received)"
        f"   target ≤ {MAX_US_PER_PACKET:.0f} µs: {_mark(t['us_per_packet'])}",
        f"  bridge-added latency (socket arrival of a frame's last packet → its departure to "
        f"each subscriber), video: p50 {s['latency_p50_ms']} ms, "
        f"p99 {s['latency_p99_ms']} ms (audio p99 {s['audio_latency_p99_ms']} ms)"
        f"   target p99 < {MAX_P99_MS:.0f} ms: {_mark(t['latency_p99'])}",
        f"  memory per participant: {s['memory_per_participant_mb']} MB",
        f"  frames lost: video {s['video_frames_lost_pct']}%, audio {s['audio_frames_lost_pct']}%",
        f"  1 central + {SUSTAIN_ENDPOINTS} on one core, < {MAX_LOSS_PCT:.0f}% lost: "
        f"{_mark(t['sustained_30_on_one_core'])}"
        + ("" if n >= SUSTAIN_ENDPOINTS else f" (this run had {n} endpoints)"),
        f"baseline (decode + re-encode): 1 central + {s['baseline_endpoints']} endpoints, "
        f"{s['baseline_cores_used']:.3f} cores, {s['baseline_cpu_per_video_stream_pct']}% of "
        f"a core per video stream, {s['baseline_us_per_video_frame']} µs per video frame, "
        f"video frames lost {s['baseline_video_frames_lost_pct']}%",
        f"  CPU ratio baseline / bridge: {s['cpu_ratio_vs_transcode']}× per video stream, "
        f"{s['cpu_ratio_per_video_frame']}× per video frame"
        f"   target ≥ {MIN_RATIO:.0f}×: {_mark(t['cpu_ratio'])}",
        *(f"  problem: {p}" for p in s["problems"]),
        f"load generator: {s['generator_cores']:.3f} cores, event loop p99 late "
        f"{s['generator_loop_lag_p99_ms']} ms, kernel UDP drops in the window: "
        f"{s['generator_kernel_drops']}",
        *([f"INVALID RUN: {s['invalid_reason']}"] if not s["valid"] else []),
    ]


def machine_line(machine: dict[str, Any]) -> str:
    return (
        f"machine: {machine['cpus']} CPUs, load average {machine['loadavg_1min_before']} before "
        "the run (the load process shares them; other work skews every figure)"
    )
