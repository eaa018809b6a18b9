"""Measurements of the server process: CPU, memory, and a latency histogram."""

from __future__ import annotations

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
    """Durations in fixed 10 µs buckets up to 200 ms (the last bucket takes the rest):
    constant memory, one index and one increment per sample."""

    RESOLUTION = 1e-5
    BUCKETS = 20_000

    def __init__(self) -> None:
        self.counts = [0] * self.BUCKETS
        self.total = 0

    def add(self, seconds: float) -> None:
        index = int(seconds / self.RESOLUTION)
        self.counts[index if index < self.BUCKETS else self.BUCKETS - 1] += 1
        self.total += 1

    def clear(self) -> None:
        self.counts = [0] * self.BUCKETS
        self.total = 0

    def percentile_ms(self, q: float) -> float:
        """The upper edge of the bucket holding the q-quantile, in milliseconds."""
        if not self.total:
            return 0.0
        rank = q * self.total
        seen = 0
        for index, count in enumerate(self.counts):
            seen += count
            if count and seen >= rank:
                return (index + 1) * self.RESOLUTION * 1000
        return self.BUCKETS * self.RESOLUTION * 1000

    def summary(self) -> dict[str, Any]:
        return {
            "count": self.total,
            "p50_ms": round(self.percentile_ms(0.50), 3),
            "p99_ms": round(self.percentile_ms(0.99), 3),
            "max_ms": round(self.percentile_ms(1.0), 3),
        }
