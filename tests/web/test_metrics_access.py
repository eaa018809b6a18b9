"""/metrics answers this machine (the TCP peer on loopback) or a scraper with the configured
bearer token; nobody else."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.support import FakeClock
from tests.web.conftest import request
from web.app import create_app
from web.config import Config, ConfigError
from web.http import Handler
from web.metrics import bearer_matches, is_loopback

TOKEN = "0123456789abcdef" * 4
FAR = "203.0.113.7"  # TEST-NET-3: an address that is not this machine


@pytest.mark.parametrize("peer", ["127.0.0.1", "127.10.0.3", "::1", "::ffff:127.0.0.1", "::1%lo"])
def test_loopback_peers(peer: str) -> None:
    assert is_loopback(peer)


NOT_LOOPBACK = [FAR, "10.0.0.5", "192.168.1.10", "::ffff:10.0.0.5", "2001:db8::1", "0.0.0.0", "::"]
NOT_ADDRESSES = ["", None, "localhost", "127.0.0.1.evil.example", "not an address"]


@pytest.mark.parametrize("peer", [*NOT_LOOPBACK, *NOT_ADDRESSES])
def test_other_peers(peer: str | None) -> None:
    assert not is_loopback(peer)


def test_bearer_token_comparison() -> None:
    assert bearer_matches(f"Bearer {TOKEN}", TOKEN)
    assert bearer_matches(f"bearer   {TOKEN} ", TOKEN)
    for header in (None, "", TOKEN, f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer", "Bearer ồ"):
        assert not bearer_matches(header, TOKEN), header
    assert not bearer_matches("Bearer ", "")  # no token configured: the header opens nothing


def test_token_is_read_from_the_environment() -> None:
    assert Config.from_env({}).metrics_token == ""
    assert Config.from_env({"TIEPDAN_METRICS_TOKEN": TOKEN}).metrics_token == TOKEN
    for bad in ("short", "x" * 31, "with space " + "x" * 32, "ồ" * 40):
        with pytest.raises(ConfigError, match="TIEPDAN_METRICS_TOKEN") as info:
            Config.from_env({"TIEPDAN_METRICS_TOKEN": bad})
        assert bad not in str(info.value)  # a secret is not echoed


async def test_loopback_client_reads_the_metrics(client: TestClient[Any, Any]) -> None:
    reply = await request(client, "GET", "/metrics")  # the test client connects from 127.0.0.1
    assert reply.status == 200, reply.text
    assert "tiepdan_http_requests_total" in reply.text


@web.middleware
async def from_far_away(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The request as if its TCP peer were another machine (as a real one would arrive)."""
    return await handler(request.clone(remote=FAR))


async def test_a_remote_client_needs_the_token(
    aiohttp_client: Any, config: Config, clock: FakeClock
) -> None:
    app = create_app(replace(config, metrics_token=TOKEN, trust_proxy=True), clock)
    app.middlewares.insert(0, from_far_away)
    client: TestClient[Any, Any] = await aiohttp_client(app)
    for headers in (
        {},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": f"Basic {TOKEN}"},
        # A forwarded header is not the peer, even with the proxy trusted.
        {"X-Forwarded-For": "127.0.0.1"},
    ):
        reply = await request(client, "GET", "/metrics", headers=headers)
        assert reply.status == 403, (headers, reply.text)
        assert "Authorization" in reply.error_fields
        assert "tiepdan_" not in reply.text
    reply = await request(client, "GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert reply.status == 200, reply.text
    assert "tiepdan_http_requests_total" in reply.text
    assert (await request(client, "GET", "/healthz")).status == 200  # only /metrics is closed


async def test_without_a_token_a_remote_client_is_refused(
    aiohttp_client: Any, config: Config, clock: FakeClock
) -> None:
    app = create_app(config, clock)
    app.middlewares.insert(0, from_far_away)
    client: TestClient[Any, Any] = await aiohttp_client(app)
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": f"Bearer {TOKEN}"}):
        reply = await request(client, "GET", "/metrics", headers=headers)
        assert reply.status == 403, (headers, reply.text)


def test_nginx_does_not_pass_metrics_on() -> None:
    """Behind nginx every request reaches tiepdan from loopback: were /metrics proxied, the
    loopback rule would open it to the world."""
    conf = (Path(__file__).parents[2] / "deploy" / "nginx.conf").read_text()
    block = re.search(r"location\s*=\s*/metrics\s*\{(?P<body>[^}]*)\}", conf)
    assert block is not None, "nginx.conf must answer /metrics itself"
    assert "proxy_pass" not in block["body"] and "return 404" in block["body"]
