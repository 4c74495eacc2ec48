"""A run of one slot occurrence: plan it into batches, then send each batch.

`plan_run` decides the local date (or records a missed run), records the run and splits the
slot's sendable users into keyset batches; `delivery.batch.send_batch` sends one of them.
Workers send batches as separate short tasks; `run_slot` runs them all in this process
(`panchang send-now`, tests).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import redis
from sqlalchemy.orm import Session, sessionmaker

from core import clock
from core.settings import Settings
from delivery import runs
from delivery.batch import send_batch
from delivery.local_day import nearest_occurrence, occurrence_of
from delivery.message import Composer, compose_message
from delivery.runs import Worker
from delivery.sender import DEFAULT_POLICY, RetryPolicy
from models import RunOutcome, RunTrigger, SendRun
from models.db import session_scope
from ops import metrics
from ops.metrics_redis import flush
from transport.base import Transport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunPlan:
    """A planned run: its id and batches, or the outcome it ended with at once."""

    zone: str
    send_time: str
    local_date: date
    run_id: int | None
    batch_ids: list[int]
    outcome: RunOutcome | None = None  # set when nothing is left to send (missed, or no batches)


@dataclass(frozen=True)
class RunSummary:
    """What one run of a slot did. `sent`, `skipped`, `failed` and `held` count users."""

    zone: str
    send_time: str
    local_date: date
    outcome: RunOutcome | None  # None while batches are still being sent by workers
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    # Of `skipped`: users under another run's live claim when this run reached them. The
    # reconciler runs the slot again after the lease if no run has sent them by then.
    held: int = 0
    run_id: int | None = None
    # Of `failed`: users WhatsApp cannot reach. And users left pending after transient errors.
    unreachable: int = 0
    deferred: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (ISO date, outcome as its string value, `running` while unfinished)."""
        return {
            "zone": self.zone,
            "send_time": self.send_time,
            "local_date": self.local_date.isoformat(),
            "outcome": self.outcome.value if self.outcome else "running",
            "sent": self.sent,
            "skipped": self.skipped,
            "failed": self.failed,
            "held": self.held,
            "unreachable": self.unreachable,
            "deferred": self.deferred,
            "run_id": self.run_id,
        }


def plan_run(
    sessions: sessionmaker[Session],
    settings: Settings,
    zone: str,
    send_time: str,
    now: datetime,
    *,
    local_date: date | None = None,
    trigger: RunTrigger = RunTrigger.BEAT,
    worker: Worker | None = None,
) -> RunPlan:
    """Record a run of (`zone`, `send_time`) at `now` (aware) and split it into batches.

    The local date is `local_date` or, when None, that of the occurrence nearest to `now`.
    Scheduled runs (Beat, reconciler) further than `settings.late_grace_s` from that
    occurrence are recorded as missed and send nothing, unless the occurrence already has a
    complete run (a late duplicate of a task has nothing to report). Manual runs
    (`send-now`) have no grace: an operator who asks for a date gets it.
    """
    worker = worker or Worker.here()
    if local_date is None:
        occurrence = nearest_occurrence(zone, send_time, now)
    else:
        occurrence = occurrence_of(zone, send_time, local_date, now)
    day = occurrence.local_date
    missed = trigger is not RunTrigger.MANUAL and occurrence.is_missed(settings.late_grace_s)
    with session_scope(sessions) as session:
        if missed:
            if runs.has_complete_run(session, zone, send_time, day):
                log.info("%s@%s for %s: late task, slot already complete", zone, send_time, day)
                return RunPlan(zone, send_time, day, None, [], RunOutcome.COMPLETE)
            run_id = runs.start_run(session, zone, send_time, day, now, trigger, worker)
            runs.end_run(session, run_id, RunOutcome.MISSED, now)
            log.warning(
                "slot %s@%s for %s missed: run at %s is %.0f s from its send time (grace %s s)",
                zone, send_time, day, now.isoformat(), occurrence.offset_s, settings.late_grace_s,
            )  # fmt: skip
            return RunPlan(zone, send_time, day, run_id, [], RunOutcome.MISSED)
        run_id = runs.start_run(session, zone, send_time, day, now, trigger, worker)
        if trigger is not RunTrigger.MANUAL:  # an operator's send-now has no "on time"
            metrics.TALLY.observe(metrics.FIRE_LAG, occurrence.offset_s, trigger=trigger.value)
        ranges = runs.batch_ranges(session, zone, send_time, now, settings.send_batch_size)
        batch_ids = runs.add_batches(session, run_id, ranges, clock.now())
    return RunPlan(zone, send_time, day, run_id, batch_ids)


def run_slot(
    sessions: sessionmaker[Session],
    transport: Transport,
    settings: Settings,
    zone: str,
    send_time: str,
    now: datetime,
    composer: Composer = compose_message,
    *,
    local_date: date | None = None,
    trigger: RunTrigger = RunTrigger.MANUAL,
    worker: Worker | None = None,
    redis_client: redis.Redis | None = None,
    policy: RetryPolicy = DEFAULT_POLICY,
) -> RunSummary:
    """Plan a run and send all its batches in this process; returns what it did.

    See `plan_run` for the local date and grace rules. Raises whatever unexpected error
    stopped a batch, after recording the run failed.
    """
    worker = worker or Worker.here()
    plan = plan_run(
        sessions, settings, zone, send_time, now,
        local_date=local_date, trigger=trigger, worker=worker,
    )  # fmt: skip
    try:
        for batch_id in plan.batch_ids:
            send_batch(
                sessions, transport, settings, batch_id, worker, composer,
                redis_client=redis_client, policy=policy,
            )  # fmt: skip
    except BaseException as err:
        if plan.run_id is not None:
            try:
                with session_scope(sessions) as session:
                    runs.end_run(
                        session, plan.run_id, RunOutcome.FAILED, clock.now(),
                        f"{type(err).__name__}: {err}",
                    )  # fmt: skip
            except Exception:
                log.exception("could not record send_run %s as failed", plan.run_id)
        raise
    finally:
        flush(redis_client)  # outside a Celery task (send-now), nothing else would
    return summary_of(sessions, plan)


def summary_of(sessions: sessionmaker[Session], plan: RunPlan) -> RunSummary:
    """The summary of a planned run as the database has it now."""
    if plan.run_id is None:
        return RunSummary(plan.zone, plan.send_time, plan.local_date, plan.outcome)
    with session_scope(sessions) as session:
        run = session.get_one(SendRun, plan.run_id)
        outcome = RunOutcome(run.outcome) if run.outcome else None
        return RunSummary(
            run.timezone, run.send_time, run.local_date, outcome, run.sent, run.skipped,
            run.failed, run.held, run.id, run.unreachable, run.deferred,
        )  # fmt: skip
