"""The WebSocket Origin check: scheme, host and port of the app's own origin, all three."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from aiohttp import WSServerHandshakeError
from aiohttp.test_utils import TestClient

from tests.support import FakeClock, login
from tests.web.conftest import sign_in
from web.app import create_app
from web.auth import COOKIE, origin_of
from web.config import Config

Client = TestClient[Any, Any]
PUBLIC = "https://tiepcongdan.example.gov.vn"


def test_origin_of() -> None:
    assert origin_of("http://127.0.0.1:8080") == ("http", "127.0.0.1", 8080)
    assert origin_of("HTTPS://TiepCongDan.example.gov.vn") == (
        "https",
        "tiepcongdan.example.gov.vn",
        443,
    )
    assert origin_of("http://example.gov.vn:80") == origin_of("http://example.gov.vn")
    assert origin_of("http://[::1]:8080") == ("http", "::1", 8080)
    for bad in ("null", "", "file://", "ws://example.gov.vn", "http://x:99999", "http://:80"):
        assert origin_of(bad) is None, bad


async def _socket_status(client: Client, path: str, origin: str, **headers: str) -> int:
    """101 when the handshake is accepted, else the status of the refusal."""
    try:
        ws = await client.ws_connect(path, origin=origin, headers=headers)
    except WSServerHandshakeError as exc:
        return exc.status
    await ws.close()
    return 101


async def test_the_scheme_and_the_port_count(client: Client) -> None:
    await login(client, "chair")
    port = client.server.port
    assert port is not None
    host = f"{client.server.host}:{port}"
    path = "/api/v1/sessions/1/bridge"
    assert await _socket_status(client, path, f"http://{host}") == 101
    assert await _socket_status(client, path, "http://127.0.0.1:8080") == 101  # the base URL
    # The finding: an https origin was taken for this http app.
    for origin in (
        f"https://{host}",
        "https://127.0.0.1:8080",
        f"http://{client.server.host}:{port + 1}",
        f"http://{client.server.host}",
        "https://evil.example",
        "null",
    ):
        assert await _socket_status(client, path, origin) == 403, origin
    # Without the proxy trusted, X-Forwarded-Proto changes nothing.
    status = await _socket_status(client, path, f"https://{host}", **{"X-Forwarded-Proto": "https"})
    assert status == 403


async def test_the_readiness_socket_checks_the_same_way(client: Client) -> None:
    await login(client, "focal1")
    me = await (await client.get("/api/v1/auth/me")).json()
    host = f"{client.server.host}:{client.server.port}"
    path = f"/api/v1/endpoints/{me['account']['endpoint_id']}/readiness-bridge"
    assert await _socket_status(client, path, f"https://{host}") == 403
    assert await _socket_status(client, path, f"http://{host}") == 101


@pytest.fixture
def proxied(config: Config) -> Config:
    return replace(config, public_base_url=PUBLIC, trust_proxy=True)


async def test_behind_a_trusted_proxy_the_forwarded_scheme_is_the_one(
    aiohttp_client: Any, client: Client, proxied: Config, clock: FakeClock
) -> None:
    app: Client = await aiohttp_client(create_app(proxied, clock))  # `client` seeded the database
    # The cookie is Secure (the base URL is https): sent by hand over the test's plain http.
    cookie = {"Cookie": f"{COOKIE}={(await sign_in(app, 'chair')).token}"}
    host = f"{app.server.host}:{app.server.port}"
    path = "/api/v1/sessions/1/bridge"

    async def status(origin: str, **headers: str) -> int:
        return await _socket_status(app, path, origin, **cookie, **headers)

    assert await status(PUBLIC) == 101
    assert await status(PUBLIC + ":443") == 101
    assert await status("http://tiepcongdan.example.gov.vn") == 403
    assert await status(PUBLIC + ":8443") == 403
    forwarded = {"X-Forwarded-Proto": "https"}
    assert await status(f"https://{host}", **forwarded) == 101
    assert await status(f"http://{host}", **forwarded) == 403
    assert await status(f"http://{host}") == 101
