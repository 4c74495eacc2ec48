"""WhatsApp delivery: message ids and statuses, unreachable users, halted runs

- delivery: message_id (unique), error_code, updated_at; statuses accepted, delivered, read;
  an index per (slot, local date, status).
- user_detail: unreachable_at and unreachable_code; the sync's index covers unreachable_at.
- send_run and send_batch: unreachable and deferred counts; send_run.error_code.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OLD_STATUSES = "status IN ('pending', 'sent', 'failed', 'skipped')"
NEW_STATUSES = "status IN ('pending', 'accepted', 'sent', 'delivered', 'read', 'failed', 'skipped')"


def _counts(batch_op: object) -> None:
    for column in ("unreachable", "deferred"):
        batch_op.add_column(  # type: ignore[attr-defined]
            sa.Column(column, sa.Integer(), server_default=sa.text("0"), nullable=False)
        )


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_id", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("error_code", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(op.f("ck_delivery_status_known"), type_="check")
        batch_op.create_check_constraint(op.f("ck_delivery_status_known"), NEW_STATUSES)
        batch_op.create_index("ix_delivery_message_id", ["message_id"], unique=True)
        batch_op.create_index(
            "ix_delivery_slot_date", ["timezone", "send_time", "local_date", "status"]
        )

    with op.batch_alter_table("user_detail", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unreachable_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("unreachable_code", sa.Integer(), nullable=True))
        batch_op.drop_index("ix_user_detail_slot_active")
        batch_op.create_index(
            "ix_user_detail_slot_active",
            ["timezone", "send_time", "obsoleted_on", "unreachable_at"],
        )

    with op.batch_alter_table("send_run", schema=None) as batch_op:
        _counts(batch_op)
        batch_op.add_column(sa.Column("error_code", sa.Integer(), nullable=True))
    with op.batch_alter_table("send_batch", schema=None) as batch_op:
        _counts(batch_op)


def downgrade() -> None:
    with op.batch_alter_table("send_batch", schema=None) as batch_op:
        batch_op.drop_column("deferred")
        batch_op.drop_column("unreachable")
    with op.batch_alter_table("send_run", schema=None) as batch_op:
        batch_op.drop_column("error_code")
        batch_op.drop_column("deferred")
        batch_op.drop_column("unreachable")
    with op.batch_alter_table("user_detail", schema=None) as batch_op:
        batch_op.drop_index("ix_user_detail_slot_active")
        batch_op.create_index(
            "ix_user_detail_slot_active", ["timezone", "send_time", "obsoleted_on"]
        )
        batch_op.drop_column("unreachable_code")
        batch_op.drop_column("unreachable_at")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_slot_date")
        batch_op.drop_index("ix_delivery_message_id")
        batch_op.drop_constraint(op.f("ck_delivery_status_known"), type_="check")
        batch_op.create_check_constraint(op.f("ck_delivery_status_known"), OLD_STATUSES)
        batch_op.drop_column("updated_at")
        batch_op.drop_column("error_code")
        batch_op.drop_column("message_id")
