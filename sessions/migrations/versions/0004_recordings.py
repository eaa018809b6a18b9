"""recording records, manifests and case attachments

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recording_manifests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("run_key", sa.String(length=300), nullable=False),
        sa.Column("storage_key", sa.String(length=500), nullable=False),
        sa.Column("manifest_hash", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["reception_sessions.id"],
            name=op.f("fk_recording_manifests_session_id_reception_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_manifests")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_recording_manifests_storage_key")),
    )
    with op.batch_alter_table("recording_manifests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_recording_manifests_run_key"), ["run_key"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_recording_manifests_session_id"), ["session_id"], unique=False
        )

    op.create_table(
        "recording_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("recording_id", sa.Integer(), nullable=False),
        sa.Column("agenda_item_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("heard_from", sa.DateTime(), nullable=False),
        sa.Column("heard_to", sa.DateTime(), nullable=False),
        sa.Column("offset_ms", sa.BigInteger(), nullable=False),
        sa.Column("length_ms", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case_files.id"], name=op.f("fk_recording_attachments_case_id_case_files")
        ),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_recording_attachments_recording_id_recordings"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["reception_sessions.id"],
            name=op.f("fk_recording_attachments_session_id_reception_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_attachments")),
        sa.UniqueConstraint(
            "recording_id",
            "agenda_item_id",
            "heard_from",
            name=op.f("uq_recording_attachments_recording_id"),
        ),
    )
    with op.batch_alter_table("recording_attachments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_recording_attachments_case_id"), ["case_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_recording_attachments_recording_id"), ["recording_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_recording_attachments_session_id"), ["session_id"], unique=False
        )

    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("run_key", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("track_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("participant_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("failure_reason", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("dropped_frames", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("manifest_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_recordings_manifest_id"), ["manifest_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_recordings_run_key"), ["run_key"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_recordings_manifest_id_recording_manifests"),
            "recording_manifests",
            ["manifest_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_recordings_manifest_id_recording_manifests"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_recordings_run_key"))
        batch_op.drop_index(batch_op.f("ix_recordings_manifest_id"))
        batch_op.drop_column("manifest_id")
        batch_op.drop_column("dropped_frames")
        batch_op.drop_column("failure_reason")
        batch_op.drop_column("participant_id")
        batch_op.drop_column("track_id")
        batch_op.drop_column("run_key")

    with op.batch_alter_table("recording_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recording_attachments_session_id"))
        batch_op.drop_index(batch_op.f("ix_recording_attachments_recording_id"))
        batch_op.drop_index(batch_op.f("ix_recording_attachments_case_id"))

    op.drop_table("recording_attachments")
    with op.batch_alter_table("recording_manifests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recording_manifests_session_id"))
        batch_op.drop_index(batch_op.f("ix_recording_manifests_run_key"))

    op.drop_table("recording_manifests")
