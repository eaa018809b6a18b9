"""Helpers for the scheduling API tests: signed-in callers, the demo's ids, a session maker."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from sessions.models import Account, CaseFile, Endpoint, Unit
from tests.web.conftest import Caller, Reply, sign_in
from web.keys import DB

VN = ZoneInfo("Asia/Ho_Chi_Minh")
Login = Callable[[str], Awaitable[Caller]]


@pytest.fixture
def as_user(client: TestClient[Any, Any]) -> Login:
    async def make(username: str) -> Caller:
        return await sign_in(client, username)

    return make


async def demo_ids(client: TestClient[Any, Any]) -> dict[str, int]:
    """Ids by "unit:CODE", "ep:UNITCODE", "acc:username", "case:CODE"."""
    async with client.app[DB]() as db:
        units = {u.code: u.id for u in await db.scalars(select(Unit))}
        eps = {e.unit_id: e.id for e in await db.scalars(select(Endpoint))}
        accs = {a.username: a.id for a in await db.scalars(select(Account))}
        cases = {c.code: c.id for c in await db.scalars(select(CaseFile))}
    return (
        {f"unit:{k}": v for k, v in units.items()}
        | {f"ep:{k}": eps[v] for k, v in units.items() if v in eps}
        | {f"acc:{k}": v for k, v in accs.items()}
        | {f"case:{k}": v for k, v in cases.items()}
    )


def session_body(
    ids: dict[str, int],
    starts_at: datetime,
    hours: float = 2,
    endpoints: tuple[str, ...] = ("X-TP", "X-HB"),
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Tiếp công dân định kỳ – tháng 12",
        "kind": "periodic",
        "state": "scheduled",
        "unit_id": ids["unit:P"],
        "chair_id": ids["acc:chair"],
        "central_endpoint_id": ids["ep:BTCD"],
        "endpoint_ids": [ids[f"ep:{e}"] for e in endpoints],
        "starts_at": starts_at.isoformat(),
        "ends_at": (starts_at + timedelta(hours=hours)).isoformat(),
    }
    body.update(extra)
    return body


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=VN)


async def create(officer: Caller, body: dict[str, Any]) -> int:
    reply = await officer.post("/api/v1/sessions", body)
    assert reply.status == 201, reply.body
    sid: int = reply.body["id"]
    return sid


def by_endpoint(reply: Reply) -> dict[int, dict[str, Any]]:
    assert reply.status == 200, reply.body
    assert set(reply.body) == {"endpoints"}
    return {e["endpoint_id"]: e for e in reply.body["endpoints"]}


GOOD_FIGURES = {
    "rtt_ms": 85.5,
    "loss_pct": 0.4,
    "jitter_ms": 9,
    "bitrate_kbps": 1200,
    "fps": 25,
    "width": 1280,
    "height": 720,
    "audio_level_seen": True,
}
