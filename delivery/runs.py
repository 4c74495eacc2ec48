"""What runs and batches record in `send_run` and `send_batch`, and how they are read back.

Each function takes an open session and leaves the commit to the caller's `session_scope`, so
a run's bookkeeping is as atomic as the step it belongs to. Concurrent batches of one run
report into the same `send_run` row with relative UPDATEs (`sent = sent + n`), which the
database serialises; `batches_done` counts a batch once however often its task is delivered.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from models import BatchState, RunOutcome, RunTrigger, SendBatch, SendRun, User
from models.base import UTCDateTime
from ops import metrics

# Batch states a task may (re)start; `running` because a batch whose worker died is delivered
# again (acks_late) and must run once more.
_OPEN_BATCH = (BatchState.PENDING.value, BatchState.RUNNING.value)


@dataclass(frozen=True)
class Worker:
    """Who is doing a piece of work: Celery task id (None outside Celery), host and pid, and
    the process's liveness id in a worker (`tasks.heartbeat.owner`; None elsewhere)."""

    task_id: str | None
    host: str
    pid: int
    owner: str | None = None

    @classmethod
    def here(cls, task_id: str | None = None, owner: str | None = None) -> Worker:
        return cls(task_id, socket.gethostname(), os.getpid(), owner)


@dataclass
class Counts:
    """Users of a batch or run: `sent` (accepted, for WhatsApp), `skipped` (already done, or
    held), `failed` (final), and of those `held` (another run's claim) and `unreachable`;
    `deferred`: left pending after transient errors, for a later run."""

    sent: int = 0
    skipped: int = 0
    failed: int = 0
    held: int = 0
    unreachable: int = 0
    deferred: int = 0

    def values_for(self, table: Any) -> dict[str, Any]:
        """Relative UPDATE values adding these counts to `table`'s columns."""
        return {name: getattr(table, name) + getattr(self, name) for name in COUNTED}


COUNTED = ("sent", "skipped", "failed", "held", "unreachable", "deferred")


@dataclass(frozen=True)
class BatchWork:
    """What a batch task needs to know to send its users."""

    batch_id: int
    run_id: int
    seq: int
    zone: str
    send_time: str
    local_date: date
    active_at: datetime
    after_id: int
    upto_id: int | None
    trigger: str

    @property
    def scope(self) -> tuple[date, int, int | None]:
        """The batch's ledger rows: local date and user range, as `ledger.release` takes it."""
        return self.local_date, self.after_id, self.upto_id


def start_run(
    session: Session,
    zone: str,
    send_time: str,
    local_date: date,
    started_at: datetime,
    trigger: RunTrigger,
    worker: Worker,
) -> int:
    """Record a new run in progress; returns its id."""
    run = SendRun(
        timezone=zone,
        send_time=send_time,
        local_date=local_date,
        trigger=trigger.value,
        task_id=worker.task_id,
        host=worker.host[:255],
        pid=worker.pid,
        started_at=started_at,
        heartbeat_at=started_at,
        batches_done=0,
        **dict.fromkeys(COUNTED, 0),
    )
    session.add(run)
    session.flush()
    return run.id


def batch_ranges(
    session: Session, zone: str, send_time: str, active_at: datetime, batch_size: int
) -> list[tuple[int, int | None]]:
    """Keyset ranges `(after_id, upto_id]` of `batch_size` active users of the slot each.

    Only every `batch_size`-th id comes back from the database (a window function over the
    slot's index), not the slot's users. The last range is open, so users who join while the
    run is under way are still in it.
    """
    numbered = (
        select(User.id, func.row_number().over(order_by=User.id).label("n"))
        .where(User.timezone == zone, User.send_time == send_time, User.sendable_at(active_at))
        .subquery()
    )
    bounds = list(
        session.scalars(
            select(numbered.c.id).where(numbered.c.n % batch_size == 0).order_by(numbered.c.id)
        )
    )
    starts = [0, *bounds]
    ends: list[int | None] = [*bounds, None]
    return list(zip(starts, ends, strict=True))


def add_batches(
    session: Session, run_id: int, ranges: Sequence[tuple[int, int | None]], at: datetime
) -> list[int]:
    """Record the run's batches and their total; returns batch ids in order."""
    batches = [
        SendBatch(
            run_id=run_id,
            seq=seq,
            after_id=after_id,
            upto_id=upto_id,
            state=BatchState.PENDING.value,
            attempts=0,
            **dict.fromkeys(COUNTED, 0),
        )
        for seq, (after_id, upto_id) in enumerate(ranges)
    ]
    session.add_all(batches)
    session.execute(
        update(SendRun)
        .where(SendRun.id == run_id)
        .values(batches_total=len(batches), heartbeat_at=at)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return [batch.id for batch in batches]


def begin_batch(
    session: Session, batch_id: int, worker: Worker, at: datetime, token: str | None = None
) -> BatchWork | None:
    """Mark a batch running for this attempt (which claims its rows with `token`); None when
    there is nothing to do.

    Nothing to do: the batch already ended (a duplicate delivery of its task), or its run is no
    longer in progress (abandoned: the reconciler has queued a new run for the slot).
    """
    row = session.execute(
        select(SendBatch, SendRun)
        .join(SendRun, SendRun.id == SendBatch.run_id)
        .where(SendBatch.id == batch_id)
    ).one_or_none()
    if row is None:
        return None
    batch, run = row
    if batch.state not in _OPEN_BATCH or run.outcome is not None:
        return None
    session.execute(
        update(SendBatch)
        .where(SendBatch.id == batch_id)
        .values(
            state=BatchState.RUNNING.value,
            attempts=SendBatch.attempts + 1,
            task_id=worker.task_id,
            host=worker.host[:255],
            pid=worker.pid,
            owner=worker.owner,
            claim_token=token,
            started_at=at,
        )
        .execution_options(synchronize_session=False)
    )
    heartbeat(session, run.id, at)
    return BatchWork(
        batch_id=batch.id,
        run_id=run.id,
        seq=batch.seq,
        zone=run.timezone,
        send_time=run.send_time,
        local_date=run.local_date,
        active_at=run.started_at,
        after_id=batch.after_id,
        upto_id=batch.upto_id,
        trigger=run.trigger,
    )


def heartbeat(session: Session, run_id: int, at: datetime) -> bool:
    """Report that the run is alive; False when it is no longer in progress (abandoned)."""
    result = session.execute(
        update(SendRun)
        .where(SendRun.id == run_id, SendRun.outcome.is_(None))
        .values(heartbeat_at=at)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def finish_batch(
    session: Session,
    batch_id: int,
    counts: Counts,
    at: datetime,
    state: BatchState = BatchState.DONE,
    error: str | None = None,
) -> RunOutcome | None:
    """Add this attempt's counts to the batch and its run and end the batch with `state`
    (done, failed or halted); end the run too when this was its last open batch, and return
    the run's outcome then (None otherwise)."""
    batch = session.get_one(SendBatch, batch_id)
    values: dict[str, Any] = {**counts.values_for(SendBatch), "finished_at": at}
    if error:
        values["error"] = error[:500]
    ended = session.execute(
        update(SendBatch)
        .where(SendBatch.id == batch_id, SendBatch.state.in_(_OPEN_BATCH))
        .values(state=state.value, **values)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if not ended:
        # Another attempt ended this batch first: keep the sends on record, count it once.
        session.execute(
            update(SendBatch)
            .where(SendBatch.id == batch_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    run_values: dict[str, Any] = {
        **counts.values_for(SendRun),
        "batches_done": SendRun.batches_done + (1 if ended else 0),
        "heartbeat_at": at,
    }
    if error and state is BatchState.FAILED:
        run_values["error"] = f"batch {batch.seq}: {error}"[:500]
    done, total = session.execute(
        update(SendRun)
        .where(SendRun.id == batch.run_id)
        .values(**run_values)
        .returning(SendRun.batches_done, SendRun.batches_total)
        .execution_options(synchronize_session=False)
    ).one()
    if total is not None and done >= total:
        return _finish_run(session, batch.run_id, at)
    return None


def record_halt(session: Session, run_id: int, code: int | None, error: str) -> None:
    """Note on the run, at once, the set-up error that halted it (its outcome comes when its
    batches have stopped)."""
    session.execute(
        update(SendRun)
        .where(SendRun.id == run_id)
        .values(error_code=code, error=f"halted: {error}"[:500])
        .execution_options(synchronize_session=False)
    )


def _finish_run(session: Session, run_id: int, at: datetime) -> RunOutcome | None:
    states = set(
        session.scalars(select(SendBatch.state).where(SendBatch.run_id == run_id).distinct())
    )
    deferred = session.scalar(select(SendRun.deferred).where(SendRun.id == run_id)) or 0
    error = None
    if BatchState.HALTED.value in states:
        outcome = RunOutcome.HALTED
    elif BatchState.FAILED.value in states:
        outcome = RunOutcome.FAILED
    elif deferred:
        # Not every user could be sent: the reconciler queues the slot again.
        outcome = RunOutcome.FAILED
        error = f"{deferred} users deferred after transient errors"
    else:
        outcome = RunOutcome.COMPLETE
    return outcome if end_run(session, run_id, outcome, at, error) else None


def end_run(
    session: Session, run_id: int, outcome: RunOutcome, at: datetime, error: str | None = None
) -> bool:
    """Give a run in progress its outcome; False when it already had one."""
    values: dict[str, Any] = {"outcome": outcome.value, "finished_at": at}
    if error is not None:
        values["error"] = error[:500]
    started_at = session.scalar(
        update(SendRun)
        .where(SendRun.id == run_id, SendRun.outcome.is_(None))
        .values(**values)
        .returning(SendRun.started_at)
        .execution_options(synchronize_session=False)
    )
    if started_at is not None:
        metrics.TALLY.inc(metrics.SLOT_RUNS, outcome=outcome.value)
        if outcome in _SENDING_OUTCOMES:
            seconds = (at - started_at).total_seconds()
            metrics.TALLY.observe(metrics.SLOT_DURATION, seconds, outcome=outcome.value)
    if outcome in (RunOutcome.FAILED, RunOutcome.ABANDONED, RunOutcome.MISSED):
        session.execute(
            update(SendBatch)
            .where(SendBatch.run_id == run_id, SendBatch.state == BatchState.PENDING.value)
            .values(
                state=(
                    BatchState.ABANDONED if outcome is RunOutcome.ABANDONED else BatchState.FAILED
                ).value,
                finished_at=at,
            )
            .execution_options(synchronize_session=False)
        )
    return started_at is not None


# Outcomes of runs that sent: their duration says how long the slot took to go out. A missed
# or abandoned run's "duration" would measure the reconciler's timing instead.
_SENDING_OUTCOMES = (RunOutcome.COMPLETE, RunOutcome.FAILED, RunOutcome.HALTED)


def abandon(
    session: Session, run_ids: Sequence[int], stale_before: datetime, at: datetime
) -> list[int]:
    """Mark runs abandoned that are still in progress with no report since `stale_before`.

    Conditional, so a run that reported after the caller looked is left alone. Returns the ids
    actually abandoned; their open batches are abandoned too (a late task of theirs does
    nothing).
    """
    if not run_ids:
        return []
    abandoned = list(
        session.scalars(
            update(SendRun)
            .where(
                SendRun.id.in_(list(run_ids)),
                SendRun.outcome.is_(None),
                _last_report() < stale_before,
            )
            .values(
                outcome=RunOutcome.ABANDONED.value,
                finished_at=at,
                error=f"no progress reported since before {stale_before:%Y-%m-%d %H:%M:%S} UTC",
            )
            .returning(SendRun.id)
            .execution_options(synchronize_session=False)
        )
    )
    if abandoned:
        session.execute(
            update(SendBatch)
            .where(SendBatch.run_id.in_(abandoned), SendBatch.state.in_(_OPEN_BATCH))
            .values(state=BatchState.ABANDONED.value, finished_at=at)
            .execution_options(synchronize_session=False)
        )
    return abandoned


def has_complete_run(session: Session, zone: str, send_time: str, local_date: date) -> bool:
    """True when some run of this occurrence completed."""
    found = session.scalar(
        select(SendRun.id)
        .where(
            SendRun.timezone == zone,
            SendRun.send_time == send_time,
            SendRun.local_date == local_date,
            SendRun.outcome == RunOutcome.COMPLETE.value,
        )
        .limit(1)
    )
    return found is not None


@dataclass(frozen=True)
class RunState:
    """What the reconciler needs of one run."""

    id: int
    outcome: str | None
    last_report: datetime  # heartbeat, or start when it never reported
    finished_at: datetime | None
    held: int


def run_states_since(
    session: Session, first_date: date
) -> dict[tuple[str, str, date], list[RunState]]:
    """Runs of local dates from `first_date` on, by (zone, send time, local date).

    Plain columns, not ORM objects: the reconciler reads a few thousand rows every minute.
    """
    rows = session.execute(
        select(
            SendRun.id,
            SendRun.timezone,
            SendRun.send_time,
            SendRun.local_date,
            SendRun.outcome,
            _last_report(),
            SendRun.finished_at,
            SendRun.held,
        ).where(SendRun.local_date >= first_date)
    )
    found: dict[tuple[str, str, date], list[RunState]] = {}
    for run_id, zone, send_time, local_date, outcome, report, finished, held in rows:
        state = RunState(run_id, outcome, report, finished, held)
        found.setdefault((zone, send_time, local_date), []).append(state)
    return found


def _last_report() -> Any:
    # Typed, so the aware-UTC column rules apply to the value and to what it is compared with.
    return func.coalesce(SendRun.heartbeat_at, SendRun.started_at, type_=UTCDateTime())


def list_runs(
    session: Session,
    *,
    local_date: date | None = None,
    zone: str | None = None,
    started_after: datetime | None = None,
    limit: int = 1000,
) -> list[SendRun]:
    """Runs, newest first, filtered by local date, zone and start time."""
    query = select(SendRun).order_by(SendRun.started_at.desc(), SendRun.id.desc()).limit(limit)
    if local_date is not None:
        query = query.where(SendRun.local_date == local_date)
    if zone is not None:
        query = query.where(SendRun.timezone == zone)
    if started_after is not None:
        query = query.where(SendRun.started_at >= started_after)
    return list(session.scalars(query))
