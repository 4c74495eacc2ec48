"""One row per execution of a slot: what it was for, what it did, and how it ended."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class RunOutcome(enum.StrEnum):
    COMPLETE = "complete"
    MISSED = "missed"
    FAILED = "failed"


class SendRun(Base):
    __tablename__ = "send_run"
    __table_args__ = (Index("ix_send_run_slot_date", "timezone", "send_time", "local_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64))
    send_time: Mapped[str] = mapped_column(String(5))
    local_date: Mapped[date] = mapped_column(Date)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    # Null while the run is in progress.
    outcome: Mapped[str | None] = mapped_column(String(10), nullable=True)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
