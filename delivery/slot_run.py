"""A run of one slot occurrence: plan it into batches, then send each batch.

`plan_run` decides the local date (or records a missed run), records the run and splits the
slot's active users into keyset batches. `send_batch` sends one batch: claim its users' ledger
rows, then for each user compose, send and mark the row at once, so a death duplicates at most
the message in flight. Workers send batches as separate short tasks; `run_slot` runs them all
in this process (`panchang send-now`, tests).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core import clock
from core.errors import PanchangError
from core.settings import Settings
from delivery import ledger, runs
from delivery.local_day import nearest_occurrence, occurrence_of
from delivery.message import Composer, compose_message
from delivery.runs import BatchWork, Counts, Worker
from models import RunOutcome, RunTrigger, SendRun, User
from models.db import session_scope
from transport.base import Transport

log = logging.getLogger(__name__)

# A batch renews its claims once they are older than this share of the lease, so a slow batch
# keeps its users (and proves it is alive) long before anyone else may take them.
RENEW_AFTER_LEASE_SHARE = 0.5


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
        ranges = runs.batch_ranges(session, zone, send_time, now, settings.send_batch_size)
        batch_ids = runs.add_batches(session, run_id, ranges, clock.now())
    return RunPlan(zone, send_time, day, run_id, batch_ids)


def send_batch(
    sessions: sessionmaker[Session],
    transport: Transport,
    settings: Settings,
    batch_id: int,
    worker: Worker | None = None,
    composer: Composer = compose_message,
) -> Counts | None:
    """Send one batch; returns this attempt's counts, or None when it had nothing to do.

    Raises whatever unexpected error stopped it, after recording the batch failed and
    releasing the claims it had not used (so a rerun need not wait out the lease).
    """
    worker = worker or Worker.here()
    with session_scope(sessions) as session:
        work = runs.begin_batch(session, batch_id, worker, clock.now())
    if work is None:
        log.info("batch %s: already ended, or its run was abandoned; nothing to do", batch_id)
        return None
    token = uuid.uuid4().hex
    counts = Counts()
    users, claimed, claimed_at = _claim(sessions, work, settings.claim_lease_s, token, counts)
    unsent = set(claimed.values())
    try:
        for user in users:
            delivery_id = claimed.get(user.id)
            if delivery_id is None or delivery_id not in unsent:
                continue
            if (clock.now() - claimed_at).total_seconds() > settings.claim_lease_s * (
                RENEW_AFTER_LEASE_SHARE
            ):
                claimed_at, alive = _renew(sessions, work, token, unsent, counts)
                if not alive:
                    break
                if delivery_id not in unsent:
                    continue
            _send_one(sessions, transport, composer, user, work.local_date, delivery_id, counts)
            unsent.discard(delivery_id)
    except BaseException as err:
        _record_failure(sessions, work, token, unsent, counts, err)
        raise
    with session_scope(sessions) as session:
        if unsent:  # stopped early: the run was abandoned while this batch was slow
            ledger.release(session, token)
        runs.finish_batch(session, work.batch_id, counts, clock.now())
    return counts


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
            send_batch(sessions, transport, settings, batch_id, worker, composer)
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
    return summary_of(sessions, plan)


def summary_of(sessions: sessionmaker[Session], plan: RunPlan) -> RunSummary:
    """The summary of a planned run as the database has it now."""
    if plan.run_id is None:
        return RunSummary(plan.zone, plan.send_time, plan.local_date, plan.outcome)
    with session_scope(sessions) as session:
        run = session.get_one(SendRun, plan.run_id)
        outcome = RunOutcome(run.outcome) if run.outcome else None
        return RunSummary(
            run.timezone, run.send_time, run.local_date, outcome,
            run.sent, run.skipped, run.failed, run.held, run.id,
        )  # fmt: skip


def _claim(
    sessions: sessionmaker[Session],
    work: BatchWork,
    lease_s: float,
    token: str,
    counts: Counts,
) -> tuple[list[User], dict[int, int], datetime]:
    """Load the batch's users and claim their ledger rows for `token`."""
    with session_scope(sessions) as session:
        query = select(User).where(
            User.timezone == work.zone,
            User.send_time == work.send_time,
            User.active_at(work.active_at),
            User.id > work.after_id,
        )
        if work.upto_id is not None:
            query = query.where(User.id <= work.upto_id)
        users = list(session.scalars(query.order_by(User.id)))
        user_ids = [user.id for user in users]
        at = clock.now()
        ledger.ensure_rows(session, user_ids, work.local_date, work.zone, work.send_time, at)
        claimed = ledger.claim(session, user_ids, work.local_date, at, lease_s, token)
        unclaimed = [user_id for user_id in user_ids if user_id not in claimed]
        counts.held += ledger.count_held(session, unclaimed, work.local_date)
        runs.heartbeat(session, work.run_id, at)
    counts.skipped += len(users) - len(claimed)
    return users, claimed, at


def _renew(
    sessions: sessionmaker[Session],
    work: BatchWork,
    token: str,
    unsent: set[int],
    counts: Counts,
) -> tuple[datetime, bool]:
    """Renew the claims still unsent and report progress; (renewed at, run still alive).

    Rows another attempt took meanwhile leave `unsent` and count as held: this attempt must
    not send them.
    """
    at = clock.now()
    with session_scope(sessions) as session:
        alive = runs.heartbeat(session, work.run_id, at)
        kept = ledger.renew(session, unsent, token, at) if alive else set(unsent)
    lost = unsent - kept
    if lost:
        log.warning("batch %s: %d claims were taken by another run", work.batch_id, len(lost))
        counts.skipped += len(lost)
        counts.held += len(lost)
        unsent.intersection_update(kept)
    if not alive:
        log.warning(
            "batch %s: run %s was abandoned meanwhile; stopping", work.batch_id, work.run_id
        )
    return at, alive


def _send_one(
    sessions: sessionmaker[Session],
    transport: Transport,
    composer: Composer,
    user: User,
    local_date: date,
    delivery_id: int,
    counts: Counts,
) -> None:
    try:
        transport.send(composer(user, local_date))
    except PanchangError as err:
        # One user's failure (transport refused, or a day we cannot compute for their place)
        # is theirs alone: record it and serve the rest of the batch.
        log.warning("send to user %s failed: %s", user.id, err)
        with session_scope(sessions) as session:
            ledger.mark_failed(session, delivery_id, str(err))
        counts.failed += 1
        return
    with session_scope(sessions) as session:
        ledger.mark_sent(session, delivery_id, clock.now())
    counts.sent += 1


def _record_failure(
    sessions: sessionmaker[Session],
    work: BatchWork,
    token: str,
    unsent: set[int],
    counts: Counts,
    err: BaseException,
) -> None:
    """On an unexpected error: free the claims not used and record the batch failed.

    The row whose send raised stays in `unsent` and is released too: the error may have come
    after the message left (a reset connection), so it may be sent twice rather than lost.
    """
    try:
        with session_scope(sessions) as session:
            if unsent:
                ledger.release(session, token)
            runs.finish_batch(
                session, work.batch_id, counts, clock.now(), f"{type(err).__name__}: {err}"
            )
    except Exception:
        # The database that broke the batch may refuse this too: the run then stops reporting
        # and the reconciler calls it abandoned after the lease.
        log.exception("could not record batch %s as failed", work.batch_id)
