"""minutes: versions (number, supersedes, revision), structured parts, frozen facts, and the
chair's directions as rows

The table has existed since 0001 but nothing wrote to it: the new NOT NULL columns are added
to an empty table.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("minutes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("item_key", sa.Integer(), nullable=False))
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False))
        batch_op.add_column(sa.Column("supersedes_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("revision", sa.Integer(), nullable=False))
        batch_op.add_column(sa.Column("presented", sa.Text(), nullable=False))
        batch_op.add_column(sa.Column("documents_received", sa.Text(), nullable=False))
        batch_op.add_column(sa.Column("conclusions", sa.Text(), nullable=False))
        batch_op.add_column(sa.Column("facts", sa.JSON(), nullable=False))
        batch_op.add_column(sa.Column("finalized_by_id", sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_minutes_session_id"), ["session_id", "item_key", "version"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_minutes_supersedes_id_minutes"), "minutes", ["supersedes_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_minutes_finalized_by_id_accounts"),
            "accounts",
            ["finalized_by_id"],
            ["id"],
        )
    op.create_table(
        "minutes_directions",
        sa.Column("minutes_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("unit_name", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["minutes_id"],
            ["minutes.id"],
            name=op.f("fk_minutes_directions_minutes_id_minutes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_minutes_directions_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("minutes_id", "position", name=op.f("pk_minutes_directions")),
    )


def downgrade() -> None:
    op.drop_table("minutes_directions")
    with op.batch_alter_table("minutes", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_minutes_finalized_by_id_accounts"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("fk_minutes_supersedes_id_minutes"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("uq_minutes_session_id"), type_="unique")
        for column in (
            "finalized_by_id",
            "facts",
            "conclusions",
            "documents_received",
            "presented",
            "revision",
            "supersedes_id",
            "version",
            "item_key",
        ):
            batch_op.drop_column(column)
