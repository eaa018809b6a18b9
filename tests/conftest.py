"""Fixtures: a database on SQLite and on PostgreSQL, the app on it, the fake clock."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.db import DatabaseConfig, create_engine, session_factory, transaction, upgrade
from sessions.seed import seed_demo
from tests.support import DEMO_PASSWORD, FakeClock
from web.app import create_app
from web.config import Config

PG_URL = os.environ.get(
    "TIEPDAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_PG = os.environ.get("TIEPDAN_REQUIRE_POSTGRES") == "1"


def _pg_problem() -> str | None:
    import psycopg

    from sessions.db import sync_url

    url = sync_url(PG_URL).set(drivername="postgresql")
    try:
        with psycopg.connect(url.render_as_string(hide_password=False), connect_timeout=3):
            return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()


_PG_STATE: dict[str, str | None] = {}


def pg_problem() -> str | None:
    if "problem" not in _PG_STATE:
        _PG_STATE["problem"] = _pg_problem()
    return _PG_STATE["problem"]


def _pg_admin(sql: str) -> None:
    import psycopg

    from sessions.db import sync_url

    url = sync_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


def _pg_database_url(name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def require_postgres() -> None:
    problem = pg_problem()
    if problem is None:
        return
    message = f"PostgreSQL at {PG_URL} is not reachable ({problem}); set TIEPDAN_TEST_POSTGRES_URL"
    if REQUIRE_PG:
        pytest.fail(message + " — TIEPDAN_REQUIRE_POSTGRES=1 makes it mandatory", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per run; each test gets a copy (migrating takes longer)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """One migrated PostgreSQL database per run; each test gets its own copy of it
    (CREATE DATABASE ... TEMPLATE copies files: much faster than migrating again)."""
    require_postgres()
    name = f"tiepdan_tpl_{uuid.uuid4().hex[:8]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        upgrade(_pg_database_url(name))
        yield name
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: a SQLite file, or a fresh database on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    require_postgres()
    template: str = request.getfixturevalue("pg_template")
    name = f"tiepdan_t_{uuid.uuid4().hex[:12]}"
    _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield _pg_database_url(name)
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[AsyncSession]:
    """A session on the migrated database; the test commits or not as it likes."""
    engine = create_engine(DatabaseConfig(url=db_url))
    async with session_factory(engine)() as session:
        yield session
    await engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def config(db_url: str, tmp_path: Path) -> Config:
    return Config(
        var_dir=tmp_path / "var",
        database=DatabaseConfig(url=db_url),
        storage_url=f"file://{tmp_path / 'recordings'}",
        secret_key="test-secret-" + "k" * 40,
    )


async def seed(db_url: str, now: Any = None) -> None:
    engine = create_engine(DatabaseConfig(url=db_url))
    try:
        async with transaction(session_factory(engine)) as session:
            await seed_demo(session, DEMO_PASSWORD, now)
    finally:
        await engine.dispose()


@pytest.fixture
async def client(
    aiohttp_client: Any, config: Config, clock: FakeClock
) -> AsyncIterator[TestClient[Any, Any]]:
    """The app on the demo province, with the fake clock."""
    await seed(config.database.url, clock.now)
    yield await aiohttp_client(create_app(config, clock))


def pytest_report_header(config: pytest.Config) -> str:
    from tests.fuzzkit import FUZZ_SEED

    return f"fuzz seed: {FUZZ_SEED} (replay with TIEPDAN_FUZZ_SEED={FUZZ_SEED})"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """The seed again at the end, where `pytest -q` shows it too, when a fuzz suite ran."""
    from tests.fuzzkit import FUZZ_SEED

    reports = [r for rs in terminalreporter.stats.values() for r in rs]
    if any("test_fuzz_" in getattr(r, "nodeid", "") for r in reports):
        terminalreporter.write_line(
            f"fuzz seed: {FUZZ_SEED} (replay with TIEPDAN_FUZZ_SEED={FUZZ_SEED})"
        )
