"""composite exports

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATES = ("queued", "running", "done", "failed")


def upgrade() -> None:
    op.create_table(
        "exports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                *_STATES,
                name="exportstate",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("range_from", sa.DateTime(), nullable=True),
        sa.Column("range_to", sa.DateTime(), nullable=True),
        sa.Column("storage_key", sa.String(length=500), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("duration_ms", sa.BigInteger(), nullable=True),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case_files.id"], name=op.f("fk_exports_case_id_case_files")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["accounts.id"], name=op.f("fk_exports_requested_by_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["reception_sessions.id"],
            name=op.f("fk_exports_session_id_reception_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exports")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_exports_storage_key")),
    )
    with op.batch_alter_table("exports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_exports_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_exports_session_id"), ["session_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("exports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exports_session_id"))
        batch_op.drop_index(batch_op.f("ix_exports_case_id"))
    op.drop_table("exports")
