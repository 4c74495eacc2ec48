"""Daily stats and retention

- daily_stats: counts per (local date, zone, send time, kind, value) of finished local dates,
  kept after the cleanup deletes the ledger rows they count.
- an index on delivery.local_date: the cleanup deletes by local date in small batches, and
  each batch must find its rows without scanning the table (send_run has one already, and
  send_batch's (run_id, seq) key serves its deletes).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "daily_stats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("send_time", sa.String(length=5), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=12), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("rolled_up_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daily_stats")),
        sa.UniqueConstraint(
            "local_date",
            "timezone",
            "send_time",
            "kind",
            "value",
            name="daily_stats_key",
        ),
    )
    op.create_index("ix_daily_stats_local_date", "daily_stats", ["local_date"])
    op.create_index("ix_delivery_local_date", "delivery", ["local_date"])


def downgrade() -> None:
    op.drop_index("ix_delivery_local_date", table_name="delivery")
    op.drop_index("ix_daily_stats_local_date", table_name="daily_stats")
    op.drop_table("daily_stats")
