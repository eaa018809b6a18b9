"""The event loop the bridge runs on: each kind runs a coroutine on its own loop."""

from __future__ import annotations

import asyncio
import inspect

import pytest
import uvloop

from bridge.eventloop import EVENT_LOOPS, new_event_loop, run

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
