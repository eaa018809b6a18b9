"""Helpers shared by the tests: waiting on conditions, the fake clock, signing in."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

DEMO_PASSWORD = "demo-password-for-tests"


@dataclass
class FakeClock:
    """The app's clock, moved by the test."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 23, 2, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class ShiftedClock:
    """Real time moved by `offset`: a test sets the app a day back, then brings it to the
    present, so that what the app stamps agrees with the media the bridge stamps in real time."""

    offset: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


async def wait_for(
    condition: Callable[[], Awaitable[bool]] | Callable[[], bool],
    what: str,
    timeout: float = 10.0,
    interval: float = 0.05,
) -> None:
    """Wait until `condition()` is true; fail naming `what` when the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for: {what}")
        await asyncio.sleep(interval)


async def login(client: TestClient[Any, Any], username: str, password: str = DEMO_PASSWORD) -> str:
    """Sign in through the API; returns the CSRF token. The cookie stays in the client."""
    resp = await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    body = await resp.json()
    assert resp.status == 200, body
    token: str = body["csrf_token"]
    return token


async def make_due(db: Any, now: datetime | None = None) -> None:
    """Move the scheduled demo sessions to start at `now` (default: the real clock), keeping
    their length: a session may be opened only from shortly before its start."""
    from sqlalchemy import select

    from sessions.db import transaction
    from sessions.models import ReceptionSession, SessionState

    at = now or datetime.now(UTC)
    async with transaction(db) as s:
        for row in await s.scalars(
            select(ReceptionSession).where(ReceptionSession.state == SessionState.SCHEDULED)
        ):
            row.ends_at, row.starts_at = at + (row.ends_at - row.starts_at), at


async def make_due_at(url: str, now: datetime | None = None) -> None:
    """`make_due` on the database at `url`."""
    from sessions.db import DatabaseConfig, create_engine, session_factory

    engine = create_engine(DatabaseConfig(url=url))
    try:
        await make_due(session_factory(engine), now)
    finally:
        await engine.dispose()
