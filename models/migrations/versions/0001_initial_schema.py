"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-21 11:50:29.351673
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "city_detail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_city_detail")),
        sa.UniqueConstraint("name", "timezone", name="name_timezone"),
    )
    op.create_table(
        "send_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("send_time", sa.String(length=5), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_send_run")),
    )
    with op.batch_alter_table("send_run", schema=None) as batch_op:
        batch_op.create_index(
            "ix_send_run_slot_date", ["timezone", "send_time", "local_date"], unique=False
        )

    op.create_table(
        "user_detail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("city_id", sa.Integer(), nullable=True),
        sa.Column("send_time", sa.String(length=5), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("obsoleted_on", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["city_id"], ["city_detail.id"], name=op.f("fk_user_detail_city_id_city_detail")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_detail")),
        sa.UniqueConstraint("phone", name=op.f("uq_user_detail_phone")),
    )
    with op.batch_alter_table("user_detail", schema=None) as batch_op:
        batch_op.create_index(
            "ix_user_detail_slot_active", ["timezone", "send_time", "obsoleted_on"], unique=False
        )
        batch_op.create_index(
            "ix_user_detail_slot_id", ["timezone", "send_time", "id"], unique=False
        )

    op.create_table(
        "delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("send_time", sa.String(length=5), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'failed', 'skipped')",
            name=op.f("ck_delivery_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_detail.id"],
            name=op.f("fk_delivery_user_id_user_detail"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery")),
        sa.UniqueConstraint("user_id", "local_date", name="user_local_date"),
    )


def downgrade() -> None:

    op.drop_table("delivery")
    with op.batch_alter_table("user_detail", schema=None) as batch_op:
        batch_op.drop_index("ix_user_detail_slot_id")
        batch_op.drop_index("ix_user_detail_slot_active")

    op.drop_table("user_detail")
    with op.batch_alter_table("send_run", schema=None) as batch_op:
        batch_op.drop_index("ix_send_run_slot_date")

    op.drop_table("send_run")
    op.drop_table("city_detail")
