"""A readiness check through the real bridge, as the check page runs it, with an aiortc peer
in the browser's place: it joins the endpoint's test room over the app's WebSocket and
publishes a camera and a microphone; the bridge sends them back (loopback); the check is
posted while the peer is still there, once the bridge has measured what a verdict needs."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiohttp.test_utils import TestClient

from scheduling.checks import Measured
from tests.bridge.bridgekit_media import Clip, vp8_plain_clip
from tests.scheduling.conftest import GOOD_FIGURES
from tests.support import wait_for
from tests.web.conftest import Caller, Reply
from tests.web.recording_kit import WsParticipant
from web.api.schedule import scheduling_config
from web.auth import COOKIE
from web.live import LIVE
from web.readiness_media import measured

SPEAKING = 30  # RFC 6464 level of the microphone's packets: -30 dBov


def bridge_measured(
    client: TestClient[Any, Any], caller: Caller, endpoint_id: int
) -> Measured | None:
    return measured(client.app[LIVE].bridge, endpoint_id, caller.account_id)


@contextlib.asynccontextmanager
async def in_test_room(
    client: TestClient[Any, Any],
    caller: Caller,
    endpoint_id: int,
    video: Clip | None = None,
    audio_level: int = SPEAKING,
) -> AsyncIterator[WsParticipant]:
    """`caller`'s peer in the endpoint's test room, publishing `video` (640×360 unless
    given) and sound at `audio_level`, until the block ends."""
    ws = await client.ws_connect(
        f"/api/v1/endpoints/{endpoint_id}/readiness-bridge",
        headers={"Cookie": f"{COOKIE}={caller.token}"},
    )
    peer = await WsParticipant.join(ws, video=video or vp8_plain_clip(), audio_level=audio_level)
    try:
        yield peer
    finally:
        await peer.close()


async def until_measured(
    client: TestClient[Any, Any], caller: Caller, endpoint_id: int
) -> Measured:
    """Until the bridge has measured enough picture, a round trip and the sound's level."""
    least = scheduling_config(client.app).thresholds.min_media_seconds

    def ready() -> bool:
        m = bridge_measured(client, caller, endpoint_id)
        return (
            m is not None
            and m.rtt_ms is not None
            and m.seconds >= least
            and m.loudest_dbov is not None
        )

    what = f"the bridge's measurement of {caller.username}'s media in readiness-{endpoint_id}"
    await wait_for(ready, what, timeout=30.0)
    m = bridge_measured(client, caller, endpoint_id)
    assert m is not None
    return m


async def check_through_bridge(
    client: TestClient[Any, Any],
    caller: Caller,
    endpoint_id: int,
    reported: dict[str, Any] = GOOD_FIGURES,
    video: Clip | None = None,
    audio_level: int = SPEAKING,
) -> Reply:
    """Run a check with real media and post `reported` as the browser's figures."""
    async with in_test_room(client, caller, endpoint_id, video, audio_level):
        await until_measured(client, caller, endpoint_id)
        return await caller.post(f"/api/v1/endpoints/{endpoint_id}/readiness-checks", reported)
