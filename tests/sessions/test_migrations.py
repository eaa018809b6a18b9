"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from sessions.db import sync_url
from sessions.models import Base


def test_migrations_match_the_models(db_url: str) -> None:
    """`db_url` is migrated to head; autogenerate must find nothing left to do."""
    engine = create_engine(sync_url(db_url))
    try:
        with engine.connect() as conn:
            assert set(Base.metadata.tables) <= set(inspect(conn).get_table_names())
            ctx = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            diff = compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], "\n".join(str(d) for d in diff)
