"""runs that tell the truth, batches, claim tokens, HH:MM send times

- send_run: trigger, task id, host, pid, heartbeat, batch counts and held users.
- send_batch: one row per batch of a run.
- delivery.claimed_by: the token of the batch attempt holding a row's claim.
- user_detail.send_time: normalised to HH:MM and checked by the database.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core import validate
from core.errors import SchemaError, ValidationError
from models.user import SEND_TIME_IS_HHMM

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _normalise_send_times() -> None:
    """Rewrite `6:30` as `06:30`; refuse values that are no time at all, naming them.

    Rows written by other programs may hold either. The first kind is repaired; the second
    would need a person to decide, so the migration stops before changing anything.
    """
    conn = op.get_bind()
    values = [row[0] for row in conn.execute(sa.text("SELECT DISTINCT send_time FROM user_detail"))]
    repairs: dict[str, str] = {}
    bad: list[str] = []
    for value in values:
        try:
            clean = validate.send_time(value)
        except ValidationError:
            bad.append(value)
            continue
        if clean != value:
            repairs[value] = clean
    if bad:
        ids = conn.execute(
            sa.text("SELECT id FROM user_detail WHERE send_time IN :bad ORDER BY id").bindparams(
                sa.bindparam("bad", expanding=True)
            ),
            {"bad": bad},
        ).scalars()
        shown = ", ".join(str(i) for i in list(ids)[:20])
        raise SchemaError(
            f"user_detail.send_time holds values that are not a time HH:MM: "
            f"{', '.join(repr(v) for v in sorted(bad))} (user ids {shown}); set them, e.g. "
            f"UPDATE user_detail SET send_time = '06:30' WHERE id IN (...), then run "
            f"`panchang db upgrade` again"
        )
    for old, new in repairs.items():
        conn.execute(
            sa.text("UPDATE user_detail SET send_time = :new WHERE send_time = :old"),
            {"new": new, "old": old},
        )


def upgrade() -> None:
    _normalise_send_times()
    with op.batch_alter_table("user_detail", schema=None) as batch_op:
        batch_op.create_check_constraint(op.f("ck_user_detail_send_time_hhmm"), SEND_TIME_IS_HHMM)

    with op.batch_alter_table("send_run", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("trigger", sa.String(length=12), server_default="beat", nullable=False)
        )
        batch_op.add_column(sa.Column("task_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("host", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("batches_total", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("batches_done", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
        batch_op.add_column(
            sa.Column("held", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
        batch_op.create_index("ix_send_run_local_date", ["local_date"], unique=False)

    op.create_table(
        "send_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("after_id", sa.Integer(), nullable=False),
        sa.Column("upto_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["send_run.id"], name=op.f("fk_send_batch_run_id_send_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_send_batch")),
        sa.UniqueConstraint("run_id", "seq", name="run_seq"),
    )  # fmt: skip

    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_column("claimed_by")
    op.drop_table("send_batch")
    with op.batch_alter_table("send_run", schema=None) as batch_op:
        batch_op.drop_index("ix_send_run_local_date")
        for column in (
            "held", "batches_done", "batches_total", "heartbeat_at", "pid", "host", "task_id",
            "trigger",
        ):  # fmt: skip
            batch_op.drop_column(column)
    with op.batch_alter_table("user_detail", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_user_detail_send_time_hhmm"), type_="check")
