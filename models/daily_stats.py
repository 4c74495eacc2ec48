"""Counts per finished local date, kept after the ledger rows they count are deleted.

One row per (local date, zone, send time, kind, value): `kind` is `status` (ledger rows by
their delivery status: sent, delivered, read, failed...) or `run` (send_run rows by outcome:
complete, missed...). The unique key makes the rollup idempotent: it replaces a (local date,
zone)'s rows in one transaction, however often it runs.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class StatKind(enum.StrEnum):
    STATUS = "status"  # `value` is a DeliveryStatus
    RUN = "run"  # `value` is a RunOutcome, or `running` for a run that never reported one


class DailyStat(Base):
    __tablename__ = "daily_stats"
    __table_args__ = (
        UniqueConstraint(
            "local_date", "timezone", "send_time", "kind", "value", name="daily_stats_key"
        ),
        # `panchang report --week` and the weekly summary read a range of dates.
        Index("ix_daily_stats_local_date", "local_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    local_date: Mapped[date] = mapped_column(Date)
    timezone: Mapped[str] = mapped_column(String(64))
    send_time: Mapped[str] = mapped_column(String(5))
    kind: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(String(12))
    count: Mapped[int] = mapped_column(Integer)
    rolled_up_at: Mapped[datetime] = mapped_column(UTCDateTime())
