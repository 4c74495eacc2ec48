"""The retention cleanup: ledger rows, runs and their batches older than the retention period.

Rows go by their local date, in many short transactions of at most `batch_size` rows each,
picked by `id IN (SELECT id ... WHERE local_date < cutoff LIMIT n)`: no statement holds locks
on the ledger for long, so the batches sending that morning (claims, marks, webhooks) wait at
most one small delete, and on SQLite no writer waits on the file lock for more than that.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Delete, delete, select
from sqlalchemy.orm import Session, sessionmaker

from models import Delivery, SendBatch, SendRun

# Rows per transaction. On Postgres 5,000 primary-key deletes through the local_date index take
# tens of milliseconds; on SQLite the writer lock is held about as long. A million rows a day
# is then 200 transactions, well inside the task's time limit, and nothing sending waits long.
DEFAULT_BATCH_SIZE = 5000
# Stop starting new transactions after this long, so the task ends inside its 300 s soft limit
# even with a large backlog (the first run after enabling retention); the next night goes on.
DEFAULT_BUDGET_S = 240.0


def retention_cutoff(now: datetime, retention_days: int) -> date:
    """The first local date kept: rows of earlier local dates are deleted.

    Counted from the UTC date; local dates are at most a day from it, and the retention is at
    least a week (settings enforce it), so no run the reconciler still reads is touched.
    """
    return now.astimezone(UTC).date() - timedelta(days=retention_days)


@dataclass
class CleanupReport:
    cutoff: date
    # Rows deleted per transaction, per table, in order.
    deliveries: list[int] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)
    runs: list[int] = field(default_factory=list)
    # True when the time budget ran out with rows left to delete.
    unfinished: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff.isoformat(),
            "deliveries": sum(self.deliveries),
            "send_batches": sum(self.batches),
            "send_runs": sum(self.runs),
            "transactions": len(self.deliveries) + len(self.batches) + len(self.runs),
            "unfinished": self.unfinished,
        }


def cleanup(
    sessions: sessionmaker[Session],
    now: datetime,
    retention_days: int,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    budget_s: float = DEFAULT_BUDGET_S,
    monotonic: Callable[[], float] = time.monotonic,
) -> CleanupReport:
    """Delete ledger rows, send_batch rows and send_run rows of local dates before the cutoff.

    Batches go before their runs, so the run deletes never cascade into thousands of batch
    rows inside one statement (a 600,000-user slot has 1,200 batches a day).
    """
    cutoff = retention_cutoff(now, retention_days)
    report = CleanupReport(cutoff)
    deadline = monotonic() + budget_s
    old_runs = select(SendRun.id).where(SendRun.local_date < cutoff)
    steps: list[tuple[list[int], Callable[[], Delete]]] = [
        (
            report.deliveries,
            lambda: delete(Delivery).where(
                Delivery.id.in_(
                    select(Delivery.id)
                    .where(Delivery.local_date < cutoff)
                    .limit(batch_size)
                    .scalar_subquery()
                )
            ),
        ),
        (
            report.batches,
            lambda: delete(SendBatch).where(
                SendBatch.id.in_(
                    select(SendBatch.id)
                    .where(SendBatch.run_id.in_(old_runs.scalar_subquery()))
                    .limit(batch_size)
                    .scalar_subquery()
                )
            ),
        ),
        (
            report.runs,
            lambda: delete(SendRun).where(
                SendRun.id.in_(old_runs.limit(batch_size).scalar_subquery())
            ),
        ),
    ]
    for counts, statement in steps:
        while True:
            if monotonic() > deadline:
                report.unfinished = True
                return report
            with sessions.begin() as session:
                result = session.execute(
                    statement(), execution_options={"synchronize_session": False}
                )
                deleted = int(getattr(result, "rowcount", 0) or 0)
            if deleted:
                counts.append(deleted)
            if deleted < batch_size:
                break
    return report
