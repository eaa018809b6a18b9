"""Made-up names are throttled apart from real accounts: one person typing them cannot lock
an office behind one address out; and no answer (nor the work behind it) tells whether a
name exists."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from sessions import accounts
from tests.support import DEMO_PASSWORD
from tests.web.conftest import Reply, request, sign_in
from web.auth import IP_FACTOR
from web.config import Config

MAX_FAILURES = 3
PER_ADDRESS = MAX_FAILURES * IP_FACTOR


@pytest.fixture
def config(config: Config) -> Config:
    return replace(config, login_max_failures=MAX_FAILURES, login_lock_minutes=10)


async def _login(client: TestClient[Any, Any], username: str, password: str) -> Reply:
    return await request(
        client, "POST", "/api/v1/auth/login", json={"username": username, "password": password}
    )


async def test_made_up_names_do_not_lock_the_real_accounts_of_the_address(
    client: TestClient[Any, Any],
) -> None:
    # The finding: 25 made-up names (5× the limit) locked every account of the address.
    replies = [await _login(client, f"khong.co.{i}", "doan-mo") for i in range(PER_ADDRESS + 3)]
    assert [r.status for r in replies[: PER_ADDRESS - 1]] == [401] * (PER_ADDRESS - 1)
    # From then on every failure from the address is "too many"...
    assert {r.status for r in replies[PER_ADDRESS - 1 :]} == {429}
    wrong = await _login(client, "focal1", "not-the-password")
    made_up = await _login(client, "khong.co.nua", "doan-mo")
    assert wrong.status == made_up.status == 429
    assert wrong.body == made_up.body  # the same answer: nothing says which name exists
    # ...but the officers of that address still sign in with their own password.
    for name in ("focal1", "focal2", "officer"):
        reply = await _login(client, name, DEMO_PASSWORD)
        assert reply.status == 200, (name, reply.body)


async def test_guessing_real_accounts_still_locks_the_address(
    client: TestClient[Any, Any],
) -> None:
    names = ["admin", "chair", "officer", "archivist", "auditor", "focal1", "focal2"]
    for i in range(PER_ADDRESS):
        await _login(client, names[i % len(names)], f"guess-{i}")
    assert (await _login(client, "focal2", DEMO_PASSWORD)).status == 429


async def test_a_name_locks_the_same_way_whether_or_not_it_exists(
    client: TestClient[Any, Any],
) -> None:
    real = [await _login(client, "chair", f"wrong-{i}") for i in range(MAX_FAILURES + 1)]
    made_up = [await _login(client, "khong.ai", f"wrong-{i}") for i in range(MAX_FAILURES + 1)]
    assert (
        [r.status for r in real]
        == [r.status for r in made_up]
        == [401] * (MAX_FAILURES - 1) + [429, 429]
    )
    assert [r.body for r in real] == [r.body for r in made_up]


async def test_every_attempt_verifies_one_password_hash(
    client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The time an answer takes is one argon2 verification on every path, so that it does
    not tell an unknown name, an inactive account or a lock from a wrong password."""
    calls: list[str] = []
    verify = accounts.verify_password

    def counting(password_hash: str, password: str) -> bool:
        calls.append(password)
        return verify(password_hash, password)

    monkeypatch.setattr(accounts, "verify_password", counting)

    async def hashes_for(username: str, password: str) -> tuple[int, int]:
        calls.clear()
        status = (await _login(client, username, password)).status
        return status, len(calls)

    assert await hashes_for("chair", DEMO_PASSWORD) == (200, 1)
    assert await hashes_for("chair", "wrong") == (401, 1)
    assert await hashes_for("khong.ai", "wrong") == (401, 1)
    admin = await sign_in(client, "admin")
    auditor = await admin.get("/api/v1/accounts?q=auditor")
    [row] = [a for a in auditor.body["items"] if a["username"] == "auditor"]
    off = await admin.patch(f"/api/v1/accounts/{row['id']}", {"active": False})
    assert off.status == 200, off.body
    assert await hashes_for("auditor", DEMO_PASSWORD) == (401, 1)  # inactive
    for i in range(MAX_FAILURES):
        await _login(client, "officer", f"wrong-{i}")
    assert await hashes_for("officer", DEMO_PASSWORD) == (429, 1)  # locked


async def test_failed_logins_of_a_new_name_at_the_same_moment_are_both_refused_plainly(
    client: TestClient[Any, Any],
) -> None:
    """Each failure of a name never seen makes its throttle rows; two at once must not both
    insert them (the second was a duplicate key: a 409 answering a login)."""
    for i in range(2):  # 4 failures in all: under every lock's limit
        body = {"username": f"ten.moi.{i}", "password": "sai-mat-khau"}
        replies = await asyncio.gather(
            *(request(client, "POST", "/api/v1/auth/login", json=body) for _ in range(2))
        )
        assert [r.status for r in replies] == [401, 401], [r.body for r in replies]


async def test_each_failure_says_how_many_attempts_remain(client: TestClient[Any, Any]) -> None:
    # The finding: the lock came without warning.
    real = [await _login(client, "archivist", f"wrong-{i}") for i in range(MAX_FAILURES)]
    made_up = [await _login(client, "khong.ton.tai", f"wrong-{i}") for i in range(MAX_FAILURES)]
    for replies in (real, made_up):
        messages = [r.body["error"]["message"] for r in replies]
        assert "Còn 2 lần thử" in messages[0] and "khóa 10 phút" in messages[0], messages
        assert "Còn 1 lần thử" in messages[1], messages
        assert "thử lại sau 10 phút" in messages[2], messages
    assert [r.body for r in real] == [r.body for r in made_up]
