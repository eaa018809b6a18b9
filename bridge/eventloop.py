"""The event loop the bridge runs on: uvloop (libuv) by default, asyncio's own as a fallback.

Every forwarded RTP packet is a datagram read, a callback and a datagram written on the event
loop, and the bridge handles thousands of datagrams a second. libuv's loop and its UDP
transport cost less per datagram than asyncio's pure-Python selector loop (profiling put that
loop at about a tenth of the bridge's CPU per forwarded packet). "asyncio" is the escape hatch
if a platform or a library misbehaves on uvloop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

import uvloop

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
