"""The same thing created twice at the same moment: one success and one 409 naming the
field, never a 500, and one row. The store checks for a duplicate before it writes; two
requests can both pass that check, and then the database's unique key decides. The test
makes both requests pass the check before either writes (a barrier at the flush that
inserts the row), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session
from sqlalchemy.util import await_only

from sessions.models import Account, Base, CalendarDay, CaseClearance, CaseFile, Unit
from tests.web.conftest import Caller, Login, Reply
from web.keys import DB


@contextmanager
def both_pass_the_check(model: type[Base]) -> Iterator[None]:
    """Hold each session that is about to insert a `model` row until two have come that far:
    both have read that there is no such row yet."""
    barrier = asyncio.Barrier(2)

    def before_flush(session: Session, _context: Any, _instances: Any) -> None:
        if any(isinstance(obj, model) for obj in session.new):
            # Inside the async session's greenlet: await_only suspends this flush only.
            await_only(asyncio.wait_for(barrier.wait(), 10))

    event.listen(Session, "before_flush", before_flush)
    try:
        yield
    finally:
        event.remove(Session, "before_flush", before_flush)


async def _twice(
    model: type[Base], caller: Caller, method: str, path: str, body: Any
) -> list[Reply]:
    with both_pass_the_check(model):
        replies = await asyncio.gather(
            caller.call(method, path, body), caller.call(method, path, body)
        )
    return sorted(replies, key=lambda r: r.status)


async def _count(client: TestClient[Any, Any], where: Any) -> int:
    async with client.app[DB]() as db:
        return int(await db.scalar(select(func.count()).where(where)) or 0)


def _one_created_one_conflict(replies: list[Reply], created: int, field: str) -> None:
    statuses = [r.status for r in replies]
    assert statuses == [created, 409], [r.text[:300] for r in replies]
    conflict = replies[1]
    assert conflict.body["error"]["code"] == "conflict", conflict.text
    assert field in conflict.error_fields, conflict.text


async def test_one_username_created_twice_at_once(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    admin = await as_user("admin")
    body = {
        "username": "trung.ten",
        "full_name": "Người Trùng Tên",
        "unit_id": 1,
        "roles": ["auditor"],
        "password": "mat-khau-du-dai",
    }
    replies = await _twice(Account, admin, "POST", "/api/v1/accounts", body)
    _one_created_one_conflict(replies, 201, "username")
    assert await _count(client, Account.username == "trung.ten") == 1


async def test_one_unit_code_created_twice_at_once(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    admin = await as_user("admin")
    body = {"name": "Xã Mới", "code": "X-MOI", "level_code": "commune", "parent_id": 1}
    replies = await _twice(Unit, admin, "POST", "/api/v1/units", body)
    _one_created_one_conflict(replies, 201, "code")
    assert await _count(client, Unit.code == "X-MOI") == 1


async def test_one_case_code_created_twice_at_once(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    officer = await as_user("officer")
    body = {
        "code": "HS-TRUNG-1",
        "kind": "petition",
        "subject_area": "land",
        "title": "Phản ánh",
        "handling_unit_id": 1,
    }
    replies = await _twice(CaseFile, officer, "POST", "/api/v1/cases", body)
    _one_created_one_conflict(replies, 201, "code")
    assert await _count(client, CaseFile.code == "HS-TRUNG-1") == 1


async def test_one_clearance_granted_twice_at_once(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    admin, officer = await as_user("admin"), await as_user("officer")
    made = await admin.post(
        "/api/v1/accounts",
        {
            "username": "can.bo.moi",
            "full_name": "Cán bộ Mới",
            "unit_id": 1,
            "roles": ["reception_officer"],
            "password": "mat-khau-du-dai",
        },
    )
    assert made.status == 201, made.text
    async with client.app[DB]() as db:
        case_id = await db.scalar(select(CaseFile.id).where(CaseFile.code == "HS-MAU-003"))
    path = f"/api/v1/cases/{case_id}/clearances"
    replies = await _twice(CaseClearance, officer, "POST", path, {"account_id": made.body["id"]})
    _one_created_one_conflict(replies, 201, "account_id")
    assert await _count(client, CaseClearance.account_id == made.body["id"]) == 1


async def test_one_calendar_day_put_twice_at_once(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    admin = await as_user("admin")
    body = {"kind": "holiday", "name": "Nghỉ bù"}
    replies = await _twice(CalendarDay, admin, "PUT", "/api/v1/calendar-days/2026-12-24", body)
    _one_created_one_conflict(replies, 201, "date")
    assert await _count(client, CalendarDay.day == date(2026, 12, 24)) == 1


async def test_a_page_form_shows_the_race_as_a_field_error(
    client: TestClient[Any, Any], as_user: Login
) -> None:
    """Pages inherit it too: the form comes back (422) with the field marked."""
    admin = await as_user("admin")
    form = {
        "csrf_token": admin.csrf,
        "name": "Xã Mới",
        "code": "X-MOI",
        "level_code": "commune",
        "parent_id": "1",
    }
    with both_pass_the_check(Unit):
        replies = await asyncio.gather(
            admin.call("POST", "/admin/units", data=form, csrf=None),
            admin.call("POST", "/admin/units", data=form, csrf=None),
        )
    statuses = sorted(r.status for r in replies)
    assert statuses == [303, 422], [r.text[:300] for r in replies]
    failed = next(r for r in replies if r.status == 422)
    assert "đã tồn tại" in failed.text
    assert await _count(client, Unit.code == "X-MOI") == 1
