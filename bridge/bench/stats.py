"""Measurements of the server process: CPU, memory, and a latency histogram."""

from __future__ import annotations

import math
import os
import resource
import time
from typing import Any


def process_figures() -> dict[str, float]:
    """This process's monotonic time, CPU seconds (every thread, user + system; and the
    system part alone) and resident memory in bytes (VmRSS of /proc/self/status)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "wall": time.monotonic(),
        "cpu": usage.ru_utime + usage.ru_stime,
        "sys": usage.ru_stime,
        "rss": _rss(),
    }


def _rss() -> float:
    with open(f"/proc/{os.getpid()}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return float(line.split()[1]) * 1024
    return 0.0


async def sender_packets(transceiver: Any) -> int:
    """RTP packets an aiortc sender has sent (its own counter, read through getStats)."""
    report = await transceiver.sender.getStats()
    return sum(int(s.packetsSent) for s in report.values() if s.type == "outbound-rtp")


class Histogram:
    """Durations in fixed 10 µs buckets up to 200 ms: constant memory, one index and one
    increment per sample. A sample outside that range (beyond 200 ms, or below 0 when a
    clock stepped) is kept as it is, so no figure is clamped to the range."""

    RESOLUTION = 1e-5
    BUCKETS = 20_000

    def __init__(self) -> None:
        self.counts = [0] * self.BUCKETS
        self.outside: list[float] = []
        self.total = 0

    def add(self, seconds: float) -> None:
        index = int(seconds / self.RESOLUTION)
        if seconds >= 0 and index < self.BUCKETS:
            self.counts[index] += 1
        else:
            self.outside.append(seconds)
        self.total += 1

    def clear(self) -> None:
        self.counts = [0] * self.BUCKETS
        self.outside = []
        self.total = 0

    def percentile_ms(self, q: float) -> float | None:
        """The q-quantile in milliseconds: the upper edge of its bucket, or the sample
        itself outside the buckets' range. None without samples."""
        if not self.total:
            return None
        rank = max(1, math.ceil(q * self.total))  # 1-based rank of the quantile's sample
        below = sorted(s for s in self.outside if s < 0)
        above = sorted(s for s in self.outside if s >= 0)
        if rank <= len(below):
            return below[rank - 1] * 1000
        seen = len(below)
        for index, count in enumerate(self.counts):
            seen += count
            if count and seen >= rank:
                return (index + 1) * self.RESOLUTION * 1000
        return above[rank - seen - 1] * 1000

    def summary(self) -> dict[str, Any]:
        def ms(q: float) -> float | None:
            value = self.percentile_ms(q)
            return None if value is None else round(value, 3)

        return {"count": self.total, "p50_ms": ms(0.50), "p99_ms": ms(0.99), "max_ms": ms(1.0)}
