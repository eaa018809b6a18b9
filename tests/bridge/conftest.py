"""Fixtures for the bridge tests: a bridge with fake collaborators, and clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from bridge.config import BridgeConfig
from bridge.service import Bridge
from tests.bridge.bridgekit import Client, FakeAuthorizer, FakeSink

ROOM = "phien-42"
# Fast ticks so speaker changes show quickly; everything else at its default.
FAST = BridgeConfig(speaker_tick=0.05, dominant_hold_ticks=2)


@pytest.fixture
def authorizer() -> FakeAuthorizer:
    return FakeAuthorizer()


@pytest.fixture
def sink() -> FakeSink:
    return FakeSink()


@pytest.fixture
def bridge_config() -> BridgeConfig:
    return FAST


@pytest.fixture
async def bridge(
    bridge_config: BridgeConfig, authorizer: FakeAuthorizer, sink: FakeSink
) -> AsyncIterator[Bridge]:
    b = Bridge(bridge_config, authorizer, sink)
    yield b
    await b.stop()


ClientFactory = Callable[..., Awaitable[Client]]


@pytest.fixture
async def client(bridge: Bridge, authorizer: FakeAuthorizer) -> AsyncIterator[ClientFactory]:
    """`await client("c", central=True, chair=True)`: admitted, joined and negotiated."""
    made: list[Client] = []

    async def make(
        pid: str, *, join: bool = True, admit: bool = True, **admission: object
    ) -> Client:
        if admit:
            authorizer.admit(pid, **admission)  # type: ignore[arg-type]
        c = Client(bridge, ROOM, pid)
        made.append(c)
        if join:
            await c.join()
        return c

    yield make
    for c in made:
        await c.close()
