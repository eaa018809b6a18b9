"""The event loop the bridge runs on: each kind runs a coroutine on its own loop."""

from __future__ import annotations

import asyncio
import inspect
import time

import pytest
import uvloop

from bridge.contracts import LoopLag
from bridge.eventloop import EVENT_LOOPS, LagProbe, new_event_loop, run

LOOP_TYPES: dict[str, type[asyncio.AbstractEventLoop]] = {
    "uvloop": uvloop.Loop,
    "asyncio": asyncio.SelectorEventLoop,
}


async def running_loop(value: int) -> tuple[int, asyncio.AbstractEventLoop]:
    return value, asyncio.get_running_loop()


@pytest.mark.parametrize("kind", EVENT_LOOPS)
def test_run_returns_the_value_on_a_loop_of_that_kind(kind: str) -> None:
    value, loop = run(running_loop(42), kind)
    assert value == 42
    assert isinstance(loop, LOOP_TYPES[kind])
    assert isinstance(loop, uvloop.Loop) == (kind == "uvloop")
    assert loop.is_closed()


def test_the_default_is_uvloop() -> None:
    _, loop = run(running_loop(0))
    assert isinstance(loop, uvloop.Loop)
    fresh = new_event_loop()
    try:
        assert isinstance(fresh, uvloop.Loop)
        assert not fresh.is_running()
    finally:
        fresh.close()


@pytest.mark.parametrize("kind", ["trio", "", "UVLOOP"])
def test_an_unknown_kind_is_refused_and_named(kind: str) -> None:
    with pytest.raises(ValueError, match=repr(kind)):
        new_event_loop(kind)
    coro = running_loop(0)
    with pytest.raises(ValueError, match="uvloop, asyncio"):
        run(coro, kind)
    # Closed, not left to warn "coroutine was never awaited".
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED


def test_lag_readings_fill_a_cumulative_histogram() -> None:
    probe = LagProbe(window=3)
    assert probe.reading() is None, "no figure before a reading"
    for lag in (0.0004, 0.001, 0.03, 3.0, 0.002):
        probe.record(lag)
    reading = probe.reading()
    assert reading is not None
    counts = dict(reading.buckets)
    assert counts[0.001] == 2, "a bound holds the readings equal to it"
    assert counts[0.0025] == 3 and counts[0.05] == 4 and counts[2.5] == 4
    assert counts[float("inf")] == reading.count == 5
    assert reading.total == pytest.approx(3.0334)
    assert reading.latest == 0.002
    assert reading.window_max == 3.0, "the worst of the last three"
    probe.record(0.0)
    probe.record(0.0)
    reading = probe.reading()
    assert reading is not None and reading.window_max == 0.002, "3.0 left the window"


@pytest.mark.parametrize("kind", EVENT_LOOPS)
def test_the_probe_sees_a_blocked_loop(kind: str) -> None:
    async def main() -> float:
        probe = LagProbe(interval=0.02)
        probe.start()
        probe.start()  # idempotent
        loop = asyncio.get_running_loop()
        try:
            await _readings(probe, 2)
            # The load being measured: a callback that holds the loop for 150 ms.
            loop.call_soon(time.sleep, 0.15)
            await _readings(probe, (probe.reading() or _none()).count + 1)
            reading = probe.reading()
            assert reading is not None
            return reading.window_max
        finally:
            probe.stop()
            assert not probe.running

    worst = run(main(), kind)
    assert 0.1 <= worst < 1.0, worst


async def _readings(probe: LagProbe, count: int) -> None:
    deadline = time.monotonic() + 5
    while (probe.reading() or _none()).count < count:
        assert time.monotonic() < deadline, f"fewer than {count} lag readings in 5 s"
        await asyncio.sleep(0.01)


def _none() -> LoopLag:
    return LoopLag(0.0, 0.0, (), 0, 0.0)


def test_the_probe_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval"):
        LagProbe(interval=0)
