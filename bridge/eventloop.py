"""The event loop the bridge runs on: uvloop (libuv) by default, asyncio's own as a fallback.

Every forwarded RTP packet is a datagram read, a callback and a datagram written on the event
loop, and the bridge handles thousands of datagrams a second. libuv's loop and its UDP
transport cost less per datagram than asyncio's pure-Python selector loop (profiling put that
loop at about a tenth of the bridge's CPU per forwarded packet). "asyncio" is the escape hatch
if a platform or a library misbehaves on uvloop.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

import uvloop

from bridge.contracts import LoopLag

EventLoopKind = Literal["uvloop", "asyncio"]
EVENT_LOOPS: tuple[EventLoopKind, ...] = ("uvloop", "asyncio")

T = TypeVar("T")


def _factory(kind: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if kind == "uvloop":
        return uvloop.new_event_loop
    if kind == "asyncio":
        return asyncio.new_event_loop
    raise ValueError(f"event loop must be one of {', '.join(EVENT_LOOPS)}: {kind!r}")


def new_event_loop(kind: str = "uvloop") -> asyncio.AbstractEventLoop:
    """A new, not yet running event loop of `kind` ("uvloop" or "asyncio")."""
    return _factory(kind)()


def run(coro: Coroutine[Any, Any, T], kind: str = "uvloop") -> T:
    """Run `coro` to completion on a new event loop of `kind`, like `asyncio.run`."""
    try:
        factory = _factory(kind)
    except ValueError:
        coro.close()  # not run, and never will be: no "never awaited" warning
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


# Upper bounds (seconds) of the lag histogram: a millisecond is the timer's own grain; a
# quarter second late is an audio glitch everyone hears.
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class LagProbe:
    """Measures how late the loop runs a timer: every `interval` seconds a callback is due,
    and how much later than due it ran is the loop's lag (a callback or a packet burst that
    holds the loop delays every datagram behind it). A timer chain, not a task: a reading
    costs one `call_at`. `stop()` cancels the pending timer."""

    def __init__(self, interval: float = 0.5, window: int = 20) -> None:
        if interval <= 0:
            raise ValueError(f"the lag probe's interval must be positive: {interval!r}")
        self._interval = interval
        self._recent: deque[float] = deque(maxlen=window)  # the last `window` readings
        self._counts = [0] * (len(LAG_BUCKETS) + 1)  # per bucket, +Inf last
        self._total = 0.0
        self._latest = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0

    @property
    def running(self) -> bool:
        return self._handle is not None

    def start(self) -> None:
        """Start on the running loop (again after `stop`); a second call does nothing."""
        if self._handle is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._schedule()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _schedule(self) -> None:
        assert self._loop is not None
        self._due = self._loop.time() + self._interval
        self._handle = self._loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        assert self._loop is not None
        self.record(max(0.0, self._loop.time() - self._due))
        self._schedule()

    def record(self, lag: float) -> None:
        """One reading, in seconds."""
        self._latest = lag
        self._recent.append(lag)
        self._counts[bisect_left(LAG_BUCKETS, lag)] += 1
        self._total += lag

    def reading(self) -> LoopLag | None:
        """The figures so far; None before the first reading."""
        if not self._recent:
            return None
        cumulative, buckets = 0, []
        for bound, count in zip((*LAG_BUCKETS, float("inf")), self._counts, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        return LoopLag(
            latest=self._latest,
            window_max=max(self._recent),
            buckets=tuple(buckets),
            count=cumulative,
            total=self._total,
        )
