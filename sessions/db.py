"""Engines, sessions and migrations for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import PrimaryKeyConstraint, UniqueConstraint, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from sessions.errors import DuplicateKey
from sessions.models import Base

MIGRATIONS = str(Path(__file__).with_name("migrations"))


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    url: str = "sqlite:///var/tiepdan.db"
    echo: bool = False
    pool_size: int = 5


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError with its own wording
        raise ValueError(f"TIEPDAN_DATABASE_URL is not a database URL: {url!r}") from exc


def async_url(url: str) -> URL:
    """The URL with the asyncio driver: aiosqlite for SQLite, psycopg (3) for PostgreSQL."""
    parsed = _parse(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    raise ValueError(f"TIEPDAN_DATABASE_URL: unsupported database {backend!r} (sqlite, postgresql)")


def sync_url(url: str) -> URL:
    """The URL with a blocking driver, for Alembic."""
    parsed = _parse(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite")
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    raise ValueError(f"TIEPDAN_DATABASE_URL: unsupported database {backend!r} (sqlite, postgresql)")


def _ensure_sqlite_dir(url: URL) -> None:
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def create_engine(config: DatabaseConfig) -> AsyncEngine:
    url = async_url(config.url)
    _ensure_sqlite_dir(url)
    kwargs: dict[str, Any] = {"echo": config.echo, "pool_pre_ping": True}
    if url.get_backend_name() == "postgresql":
        kwargs["pool_size"] = config.pool_size
    engine = create_async_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commits when the block ends normally, rolls back on any error.

    A unique or primary key the database refused (two requests creating the same username,
    code, clearance or calendar day at the same moment, both past the store's own check)
    comes out as `DuplicateKey`, a `Conflict` naming the key's columns: every caller, API
    or page, answers it as it answers the store's own conflicts."""
    try:
        async with factory() as session, session.begin():
            yield session
    except IntegrityError as exc:
        columns = duplicate_key_columns(exc)
        if columns is None:
            raise
        named = f" ({', '.join(columns)})" if columns else ""
        raise DuplicateKey(
            f"Đã có dữ liệu trùng{named}, có thể vừa được tạo cùng lúc. "
            "Vui lòng tải lại và kiểm tra.",
            dict.fromkeys(columns, "đã tồn tại"),
        ) from exc


def _key_columns() -> dict[str, tuple[str, ...]]:
    """Every unique and primary key of the schema, by its name (the metadata's
    naming_convention gives them stable names, the same on both databases)."""
    out: dict[str, tuple[str, ...]] = {}
    for table in Base.metadata.tables.values():
        for c in table.constraints:
            if isinstance(c, UniqueConstraint | PrimaryKeyConstraint) and isinstance(c.name, str):
                out[c.name] = tuple(col.name for col in c.columns)
    return out


_KEYS = _key_columns()
# SQLite names the columns, not the constraint: "UNIQUE constraint failed: t.a, t.b";
# PostgreSQL names both: the constraint, and "Key (a, b)=(...) already exists."
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)")
_PG_DETAIL = re.compile(r"Key \(([^)]*)\)=")


def duplicate_key_columns(exc: IntegrityError) -> tuple[str, ...] | None:
    """The columns of the unique or primary key `exc` violated (empty when they cannot be
    read); None when it is another integrity error (a foreign key, NOT NULL, CHECK)."""
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == "23505":  # PostgreSQL's unique_violation
        diag = getattr(orig, "diag", None)
        known = _KEYS.get(getattr(diag, "constraint_name", None) or "")
        if known is not None:
            return known
        detail = _PG_DETAIL.match(getattr(diag, "message_detail", None) or "")
        return tuple(c.strip() for c in detail[1].split(",")) if detail else ()
    match = _SQLITE_UNIQUE.match(str(orig))
    if match is None:
        return None
    return tuple(part.strip().rpartition(".")[2] for part in match[1].split(","))


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", MIGRATIONS)
    # Alembic's ini interpolation treats % specially.
    cfg.set_main_option(
        "sqlalchemy.url", sync_url(url).render_as_string(hide_password=False).replace("%", "%%")
    )
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations (blocking: call it before the event loop starts or in a thread)."""
    _ensure_sqlite_dir(sync_url(url))
    command.upgrade(alembic_config(url), revision)
