"""scheduling: holiday calendar, readiness, notifications, reminders, leaders' duties

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 13:29:44.183373
"""

from collections.abc import Sequence
from datetime import date, datetime

import sqlalchemy as sa
from alembic import op

# DATA, not code: the public holidays of 2026 as the Labour Code (art. 112) and the Government's
# announcement for 2026 set them. Each year an administrator adds the next year's holidays and
# make-up working Saturdays through the API (PUT /api/v1/calendar-days/{date}); these rows are
# only a starting point and may be edited like any other.
HOLIDAYS_2026 = (
    ("2026-01-01", "Tết Dương lịch"),
    ("2026-02-16", "Tết Nguyên đán (29 tháng Chạp)"),
    ("2026-02-17", "Tết Nguyên đán (Mùng 1)"),
    ("2026-02-18", "Tết Nguyên đán (Mùng 2)"),
    ("2026-02-19", "Tết Nguyên đán (Mùng 3)"),
    ("2026-02-20", "Tết Nguyên đán (Mùng 4)"),
    # Giỗ Tổ Hùng Vương (10/3 âm lịch) falls on Sunday 26/4/2026: the day off moves to Monday.
    ("2026-04-27", "Nghỉ bù Giỗ Tổ Hùng Vương (10/3 âm lịch, Chủ nhật 26/4)"),
    ("2026-04-30", "Ngày Chiến thắng (30/4)"),
    ("2026-05-01", "Ngày Quốc tế Lao động (1/5)"),
    ("2026-09-01", "Quốc khánh (ngày liền kề)"),
    ("2026-09-02", "Quốc khánh (2/9)"),
)

# DATA, not code: how often heads of units must receive citizens (Law on Citizen Reception
# 2013 and its 2025 amendment for communes). A later rule for the same level and
# role replaces an earlier one from its effective date.
DUTY_RULES = (
    ("province", "leader", 1, "month", "2014-07-01", "Luật Tiếp công dân 2013"),
    ("department", "leader", 1, "month", "2014-07-01", "Luật Tiếp công dân 2013"),
    ("district", "leader", 2, "month", "2014-07-01", "Luật Tiếp công dân 2013"),
    ("commune", "leader", 1, "week", "2014-07-01", "Luật Tiếp công dân 2013"),
    ("commune", "leader", 2, "month", "2026-07-01", "Luật Tiếp công dân sửa đổi 2025"),
)


revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = datetime(2026, 1, 1)  # naive UTC, as UTCDateTime stores it


def upgrade() -> None:
    calendar_days = op.create_table(
        "calendar_days",
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "holiday",
                "working_day",
                name="calendardaykind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("date", name=op.f("pk_calendar_days")),
    )
    duty_rules = op.create_table(
        "duty_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("level_code", sa.String(length=32), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "admin",
                "leader",
                "reception_officer",
                "focal_staff",
                "archivist",
                "auditor",
                name="role",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("times", sa.Integer(), nullable=False),
        sa.Column(
            "period",
            sa.Enum(
                "week",
                "month",
                name="dutyperiod",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("basis", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duty_rules")),
    )
    with op.batch_alter_table("duty_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_duty_rules_level_code"), ["level_code"], unique=False)

    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_notifications_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["reception_sessions.id"],
            name=op.f("fk_notifications_session_id_reception_sessions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notifications_account_id"), ["account_id"], unique=False
        )

    op.create_table(
        "readiness",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "passed",
                "failed",
                name="readinessstate",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("scheduled_late", sa.Boolean(), nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=True),
        sa.Column("checked_by_id", sa.Integer(), nullable=True),
        sa.Column("figures", sa.JSON(), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["checked_by_id"], ["accounts.id"], name=op.f("fk_readiness_checked_by_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"], ["endpoints.id"], name=op.f("fk_readiness_endpoint_id_endpoints")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["reception_sessions.id"],
            name=op.f("fk_readiness_session_id_reception_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_readiness")),
        sa.UniqueConstraint("session_id", "endpoint_id", name=op.f("uq_readiness_session_id")),
    )
    with op.batch_alter_table("readiness", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_readiness_endpoint_id"), ["endpoint_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_readiness_session_id"), ["session_id"], unique=False)

    op.create_table(
        "reminders_sent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "focal_reminder",
                "overdue_alert",
                name="reminderkind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("deadline", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"], ["endpoints.id"], name=op.f("fk_reminders_sent_endpoint_id_endpoints")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["reception_sessions.id"],
            name=op.f("fk_reminders_sent_session_id_reception_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders_sent")),
        sa.UniqueConstraint(
            "kind", "session_id", "endpoint_id", "deadline", name=op.f("uq_reminders_sent_kind")
        ),
    )
    with op.batch_alter_table("reminders_sent", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reminders_sent_session_id"), ["session_id"], unique=False
        )

    _seed(calendar_days, duty_rules)


def _seed(calendar_days: sa.Table, duty_rules: sa.Table) -> None:
    op.bulk_insert(
        calendar_days,
        [
            {"date": date.fromisoformat(d), "kind": "holiday", "name": name, "updated_at": NOW}
            for d, name in HOLIDAYS_2026
        ],
    )
    op.bulk_insert(
        duty_rules,
        [
            {
                "level_code": level,
                "role": role,
                "times": times,
                "period": period,
                "effective_from": date.fromisoformat(start),
                "basis": basis,
            }
            for level, role, times, period, start, basis in DUTY_RULES
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("reminders_sent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reminders_sent_session_id"))

    op.drop_table("reminders_sent")
    with op.batch_alter_table("readiness", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_readiness_session_id"))
        batch_op.drop_index(batch_op.f("ix_readiness_endpoint_id"))

    op.drop_table("readiness")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_account_id"))

    op.drop_table("notifications")
    with op.batch_alter_table("duty_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_duty_rules_level_code"))

    op.drop_table("duty_rules")
    op.drop_table("calendar_days")
