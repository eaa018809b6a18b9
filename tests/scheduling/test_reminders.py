"""Reminders: sent once by the clock, across restarts; the service's task has an owner."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from scheduling.config import DeadlineMode, SchedulingConfig
from scheduling.reminders import ReminderService, TickResult
from sessions.models import Account, Notification, SentReminder
from tests.conftest import seed
from tests.scheduling.checkkit import check_through_bridge
from tests.scheduling.conftest import (
    Login,
    by_endpoint,
    create,
    demo_ids,
    local,
    session_body,
)
from tests.support import FakeClock, wait_for
from tests.web.conftest import sign_in
from web.api.schedule import REMINDERS, SCHEDULING, scheduling_ctx
from web.app import create_app
from web.config import Config
from web.keys import DB

MakeClient = Callable[[Any], Awaitable[TestClient[Any, Any]]]


def service(client: TestClient[Any, Any], clock: FakeClock) -> ReminderService:
    return ReminderService(client.app[DB], clock, SchedulingConfig())


async def notes_of(client: TestClient[Any, Any], username: str, session_id: int) -> list[str]:
    async with client.app[DB]() as db:
        rows = await db.scalars(
            select(Notification.text)
            .join(Account, Account.id == Notification.account_id)
            .where(Account.username == username, Notification.session_id == session_id)
            .order_by(Notification.id)
        )
        return list(rows)


async def test_reminders_are_sent_once_across_a_restart(
    client: TestClient[Any, Any], as_user: Login, clock: FakeClock
) -> None:
    ids = await demo_ids(client)
    officer, focal1 = await as_user("officer"), await as_user("focal1")
    sid = await create(officer, session_body(ids, local(2026, 11, 27, 8)))  # deadline Thu 15:00
    reply = await check_through_bridge(client, focal1, ids["ep:X-TP"])
    assert reply.status == 201 and reply.body["passed"], reply.body

    first = service(client, clock)
    clock.now = local(2026, 11, 26, 11, 59)  # a minute before the 3-hour lead
    assert await first.tick() == TickResult(0, 0)
    clock.now = local(2026, 11, 26, 12, 0)
    assert await first.tick() == TickResult(1, 0)  # Hòa Bình only: Tân Phú passed
    assert await first.tick() == TickResult(0, 0)
    [text] = await notes_of(client, "focal2", sid)
    assert text.startswith("Nhắc việc: Điểm cầu phường Hòa Bình cần kết nối và kiểm tra trước")
    assert "15:00 ngày 26/11/2026" in text
    assert await notes_of(client, "focal1", sid) == []

    restarted = service(client, clock)  # a new process over the same database
    assert await restarted.tick() == TickResult(0, 0)
    clock.now = local(2026, 11, 26, 15, 0)
    assert await restarted.tick() == TickResult(0, 1)
    assert await service(client, clock).tick() == TickResult(0, 0)
    [alert] = await notes_of(client, "officer", sid)
    assert alert.startswith("Quá hạn: Điểm cầu phường Hòa Bình chưa kiểm tra kết nối")
    assert "0987 654 321" in alert
    assert len(await notes_of(client, "focal2", sid)) == 1

    # A reschedule is a new deadline: reminded again, once.
    officer = await sign_in(client, "officer")
    start = local(2026, 11, 30, 8)
    reply = await officer.patch(
        f"/api/v1/sessions/{sid}",
        {"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat()},
    )
    assert reply.status == 200, reply.body
    clock.now = local(2026, 11, 29, 12, 0)
    assert await restarted.tick() == TickResult(1, 0)
    async with client.app[DB]() as db:
        sent = await db.scalar(
            select(func.count()).select_from(SentReminder).where(SentReminder.session_id == sid)
        )
    assert sent == 3


async def test_scheduled_late_reminds_at_once_and_raises_no_deadline_alert(
    client: TestClient[Any, Any], as_user: Login, clock: FakeClock
) -> None:
    ids = await demo_ids(client)
    clock.now = local(2026, 11, 26, 16)
    officer = await as_user("officer")
    sid = await create(officer, session_body(ids, local(2026, 11, 27, 8)))
    assert await service(client, clock).tick() == TickResult(2, 0)
    [text] = await notes_of(client, "focal1", sid)
    assert text.startswith("Cần kiểm tra ngay: Điểm cầu xã Tân Phú")
    assert await notes_of(client, "officer", sid) == []


async def test_scheduling_ctx_owns_the_service_task(
    aiohttp_client: Any, config: Config, clock: FakeClock
) -> None:
    await seed(config.database.url, clock.now)
    # The demo's session is on Wednesday 08:30: its focal staff are reminded from Tuesday 12:00.
    clock.now = local(2026, 11, 24, 12, 30)
    app = create_app(config, clock)
    app.cleanup_ctx.append(scheduling_ctx)
    client = await aiohttp_client(app)
    reminders = client.app[REMINDERS]
    assert reminders.running

    async def sent() -> bool:
        async with client.app[DB]() as db:
            return bool(await db.scalar(select(func.count()).select_from(SentReminder)))

    await wait_for(sent, "the service's first pass to send the demo session's reminders")
    await client.close()
    assert not reminders.running


async def test_working_day_mode_uses_the_admins_calendar(
    aiohttp_client: Any, config: Config, clock: FakeClock
) -> None:
    await seed(config.database.url, clock.now)
    app = create_app(config, clock)
    app[SCHEDULING] = SchedulingConfig(deadline_mode=DeadlineMode.WORKING)
    client = await aiohttp_client(app)
    ids = await demo_ids(client)
    admin, officer = await sign_in(client, "admin"), await sign_in(client, "officer")
    sid = await create(officer, session_body(ids, local(2026, 12, 7, 8)))  # a Monday
    eps = by_endpoint(await officer.get(f"/api/v1/sessions/{sid}/readiness"))
    assert {e["deadline"] for e in eps.values()} == {"2026-12-04T15:00:00+07:00"}
    reply = await admin.call(
        "PUT", "/api/v1/calendar-days/2026-12-05", {"kind": "working_day", "name": "Làm bù"}
    )
    assert reply.status == 201, reply.body
    eps = by_endpoint(await officer.get(f"/api/v1/sessions/{sid}/readiness"))
    assert {e["deadline"] for e in eps.values()} == {"2026-12-05T15:00:00+07:00"}
