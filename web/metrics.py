"""Prometheus metrics, one registry per app (no globals: tests build many apps).

The HTTP figures are counted as requests pass (`web.middleware.observe`); the bridge's and
the recorder's are read at scrape time by the collectors of `web.metrics_media`, attached
here when the app starts: `await refresh()` (what only the database knows), then `render()`.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.registry import Collector


class ScrapeCollector(Collector, Protocol):
    """A collector with an asynchronous step before each scrape (it reads the database)."""

    async def refresh(self) -> None: ...


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tiepdan_http_requests_total",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tiepdan_http_request_seconds",
            "HTTP request latency by route",
            ["method", "route"],
            registry=self.registry,
        )
        self.logins = Counter(
            "tiepdan_logins_total", "Login attempts by outcome", ["outcome"], registry=self.registry
        )

        self._collectors: list[ScrapeCollector] = []

    def attach(self, collector: ScrapeCollector) -> None:
        self.registry.register(collector)
        self._collectors.append(collector)

    def detach(self, collector: ScrapeCollector) -> None:
        self.registry.unregister(collector)
        self._collectors.remove(collector)

    async def refresh(self) -> None:
        """Before `render`: let each attached collector read what it reads asynchronously."""
        for collector in list(self._collectors):
            await collector.refresh()

    def render(self) -> bytes:
        return generate_latest(self.registry)


def is_loopback(peer: str | None) -> bool:
    """Whether the TCP peer (the socket's address, never a forwarded header) is this machine.
    Behind nginx every request comes from loopback: nginx must not pass /metrics on."""
    if not peer:
        return False  # no address (a Unix socket): not known to be local
    try:
        addr = ipaddress.ip_address(peer.split("%", 1)[0])  # "::1%lo": a scoped address
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped.is_loopback
    return addr.is_loopback


def bearer_matches(authorization: str | None, token: str) -> bool:
    """Whether an `Authorization: Bearer <token>` header carries `token` (compared in
    constant time). An empty configured token matches nothing."""
    if not token or not authorization:
        return False
    scheme, _, supplied = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    # As bytes: compare_digest refuses non-ASCII text, and a header may hold any bytes.
    return hmac.compare_digest(supplied.strip().encode("utf-8", "replace"), token.encode())
