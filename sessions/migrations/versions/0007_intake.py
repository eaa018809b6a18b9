"""intake: the person denounced, group size, documents handed in

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROLES = ("petitioner", "representative", "lawyer")


def _role_enum(values: Sequence[str]) -> sa.Enum:
    return sa.Enum(
        *values, name="citizenrole", native_enum=False, create_constraint=True, length=32
    )


def upgrade() -> None:
    # The enum is VARCHAR + CHECK: changing the type replaces the CHECK constraint.
    with op.batch_alter_table("case_parties", schema=None) as batch_op:
        batch_op.alter_column(
            "role",
            existing_type=_role_enum(_ROLES),
            type_=_role_enum((*_ROLES, "denounced")),
            existing_nullable=False,
        )
    with op.batch_alter_table("case_files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("group_size", sa.Integer(), nullable=True))
    op.create_table(
        "case_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("batch", sa.String(length=40), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=300), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("received_by_id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case_files.id"], name=op.f("fk_case_documents_case_id_case_files")
        ),
        sa.ForeignKeyConstraint(
            ["received_by_id"],
            ["accounts.id"],
            name=op.f("fk_case_documents_received_by_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_documents")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_case_documents_storage_key")),
    )
    with op.batch_alter_table("case_documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_documents_batch"), ["batch"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_documents_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("case_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_documents_case_id"))
        batch_op.drop_index(batch_op.f("ix_case_documents_batch"))
    op.drop_table("case_documents")
    with op.batch_alter_table("case_files", schema=None) as batch_op:
        batch_op.drop_column("group_size")
    with op.batch_alter_table("case_parties", schema=None) as batch_op:
        batch_op.alter_column(
            "role",
            existing_type=_role_enum((*_ROLES, "denounced")),
            type_=_role_enum(_ROLES),
            existing_nullable=False,
        )
