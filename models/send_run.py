"""One row per run of a slot occurrence, and one per batch of that run.

A run is planned by one task (the one Beat fires, the reconciler's, or `send-now`), which splits
the slot's users into batches; each batch is sent by its own short task, which reports its
counts back into the run. `heartbeat_at` moves with every report, so a run whose process died
is told from a slow one by the age of its heartbeat (see `delivery.reconcile`).
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class RunOutcome(enum.StrEnum):
    COMPLETE = "complete"  # every batch ran to its end
    MISSED = "missed"  # started further than the grace period from its send time; sent nothing
    FAILED = "failed"  # a batch raised, or users were deferred; the reconciler runs it again
    ABANDONED = "abandoned"  # stopped reporting progress for longer than the claim lease
    HALTED = "halted"  # WhatsApp said our set-up is broken (`error_code`); a person must act


class RunTrigger(enum.StrEnum):
    BEAT = "beat"
    RECONCILE = "reconcile"
    MANUAL = "manual"


class SendRun(Base):
    __tablename__ = "send_run"
    __table_args__ = (
        Index("ix_send_run_slot_date", "timezone", "send_time", "local_date"),
        # The reconciler reads the runs of the last two local dates every minute.
        Index("ix_send_run_local_date", "local_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64))
    send_time: Mapped[str] = mapped_column(String(5))
    local_date: Mapped[date] = mapped_column(Date)
    trigger: Mapped[str] = mapped_column(
        String(12), default=RunTrigger.BEAT.value, server_default=RunTrigger.BEAT.value
    )
    # Who planned the run: Celery task id (None for `send-now`), host name and process id.
    task_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The run's logical time: it picked the local date and decides who is an active user.
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Null until the run has split its users into batches.
    batches_total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    batches_done: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    sent: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    # Of `skipped`: users under another run's live claim when this run reached them.
    held: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # Of `failed`: users WhatsApp cannot reach (now marked unreachable).
    unreachable: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # Users left pending after transient errors used up their attempts; a later run retries.
    deferred: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # Null while the run is in progress.
    outcome: Mapped[str | None] = mapped_column(String(10), nullable=True)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # The provider's code that halted the run.
    error_code: Mapped[int | None] = mapped_column(Integer, nullable=True)


class BatchState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    ABANDONED = "abandoned"
    HALTED = "halted"


class SendBatch(Base):
    """Users `after_id < id <= upto_id` (no upper bound when null) of a run's slot."""

    __tablename__ = "send_batch"
    __table_args__ = (
        UniqueConstraint("run_id", "seq", name="run_seq"),
        Index("ix_send_batch_state", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("send_run.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    after_id: Mapped[int] = mapped_column(Integer)
    upto_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    state: Mapped[str] = mapped_column(String(10), default=BatchState.PENDING.value)
    # Deliveries of the task (a redelivered message is a second attempt).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    task_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The running attempt's process (its liveness key, `core.names.alive_key`) and the token
    # it claimed its ledger rows with: a dead attempt's batch is released and queued again
    # (`delivery.orphans`).
    owner: Mapped[str | None] = mapped_column(String(32), nullable=True)
    claim_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    held: Mapped[int] = mapped_column(Integer, default=0)
    unreachable: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    deferred: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
