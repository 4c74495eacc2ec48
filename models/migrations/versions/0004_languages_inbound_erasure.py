"""Languages, inbound WhatsApp commands, erasure that keeps the ledger's counts

- user_detail.language: 'en' (default) or 'hi'.
- inbound_message: each message a subscriber sent, by WhatsApp's id, so a replay counts once.
- delivery.user_id: nullable, ON DELETE SET NULL (was CASCADE), so erasing a user keeps the
  day's counts without anything that names them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

FK = "fk_delivery_user_id_user_detail"


def upgrade() -> None:
    with op.batch_alter_table("user_detail", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("language", sa.String(length=2), server_default="en", nullable=False)
        )
        batch_op.create_check_constraint(
            op.f("ck_user_detail_language"), "language IN ('en', 'hi')"
        )

    op.create_table(
        "inbound_message",
        sa.Column("message_id", sa.String(length=128), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("command", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=True),
        sa.Column("outcome", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_inbound_message")),
    )
    op.create_index(
        "ix_inbound_message_phone_received", "inbound_message", ["phone", "received_at"]
    )

    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_constraint(op.f(FK), type_="foreignkey")
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_foreign_key(
            op.f(FK), "user_detail", ["user_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_constraint(op.f(FK), type_="foreignkey")
        batch_op.create_foreign_key(
            op.f(FK), "user_detail", ["user_id"], ["id"], ondelete="CASCADE"
        )
    op.execute("DELETE FROM delivery WHERE user_id IS NULL")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=False)
    op.drop_index("ix_inbound_message_phone_received", table_name="inbound_message")
    op.drop_table("inbound_message")
    with op.batch_alter_table("user_detail", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_user_detail_language"), type_="check")
        batch_op.drop_column("language")
