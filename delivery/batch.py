"""Sending one batch of a run: claim its users' ledger rows, send to each, record each answer.

A batch claims its users' rows for a random token, then sends to them, several at once when
the transport allows (`Transport.concurrency`: WhatsApp's round trip is 100-300 ms, so one
request at a time would cap a process at a few messages a second). Each answer reaches the
ledger as it comes back: one at a time for a transport that sends one at a time (the outbox:
a death resends at most the message in flight), and for a concurrent one, successes in small
groups written at least every 10 ms (`delivery.marks`: a death resends at most the requests
in flight and the answers of those last 10 ms). Between sends the batch checks whether the
run was halted (a set-up error, on any worker), renews its claims when they reach half the
lease, and stops if the reconciler has meanwhile called its run abandoned.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import redis
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session, sessionmaker

from core import clock
from core.errors import PanchangError
from core.settings import Settings
from delivery import ledger, runs
from delivery.alerts import Alerts
from delivery.local_day import occurrence_on
from delivery.marks import MarkWriter
from delivery.message import Composer, Recipient, compose_message
from delivery.runs import BatchWork, Counts, Worker
from delivery.sender import DEFAULT_POLICY, Halt, Outcome, RetryPolicy, Verdict, deliver
from models import BatchState, City, Delivery, DeliveryStatus, RunOutcome, RunTrigger, User
from models.db import session_scope
from ops import metrics
from scheduler.slots import Slot
from subscribers.registry import mark_unreachable
from transport.base import Transport

log = logging.getLogger(__name__)

# A batch renews its claims once they are older than this share of the lease, so a slow batch
# keeps its users (and proves it is alive) long before anyone else may take them.
RENEW_AFTER_LEASE_SHARE = 0.5


@dataclass
class _Batch:
    """One attempt at a batch, shared by the threads sending it."""

    sessions: sessionmaker[Session]
    transport: Transport
    composer: Composer
    work: BatchWork
    token: str
    lease_s: float
    halt: Halt
    alerts: Alerts
    deadline: datetime | None
    policy: RetryPolicy
    counts: Counts = field(default_factory=Counts)
    unsent: set[int] = field(default_factory=set)
    claimed_at: datetime = field(default_factory=clock.now)
    alive: bool = True
    halted: Outcome | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    # A batch that sends one at a time writes each answer on its thread's own connection, in
    # autocommit: one round trip per answer, and no pool checkout per message, which cost
    # several times the statement itself.
    _local: threading.local = field(default_factory=threading.local)
    _connections: list[Connection] = field(default_factory=list)
    # Successes of a concurrent batch are written in small groups (`delivery.marks`).
    marks: MarkWriter | None = None

    def connection(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            bind = self.sessions.kw["bind"]
            conn = bind.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._local.conn = conn
            with self.lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def rare_write(self) -> Iterator[Session | Connection]:
        """Where an uncommon answer is written: the thread's own connection when this batch
        marks row by row, else a pooled session for that one write, so a concurrent batch's
        threads do not each hold a connection (two workers at 64 threads would exceed
        Postgres's default 100)."""
        if self.marks is None:
            yield self.connection()
            return
        with session_scope(self.sessions) as session:
            yield session

    def close_connections(self) -> None:
        for conn in self._connections:
            conn.close()
        self._connections.clear()

    def may_send(self, delivery_id: int) -> bool:
        """False once the run is halted or abandoned, or when this row's claim was lost.

        A halt on another worker is seen here at each renewal, and before that by the
        transport, which checks it with every request.
        """
        if self.halt.seen() or not self.alive:
            return False
        if (clock.now() - self.claimed_at).total_seconds() > self.lease_s * RENEW_AFTER_LEASE_SHARE:
            if self.halt.is_set():
                return False
            self._renew()
        with self.lock:
            return self.alive and delivery_id in self.unsent

    def _renew(self) -> None:
        at = clock.now()
        with self.lock, session_scope(self.sessions) as session:
            self.claimed_at = at
            self.alive = runs.heartbeat(session, self.work.run_id, at)
            kept = ledger.renew(session, self.unsent, self.token, at) if self.alive else self.unsent
            lost = self.unsent - kept
            if lost:
                log.warning(
                    "batch %s: %d claims taken by another run", self.work.batch_id, len(lost)
                )
                self.counts.skipped += len(lost)
                self.counts.held += len(lost)
                self.unsent.intersection_update(kept)
        if not self.alive:
            log.warning(
                "batch %s: run %s was abandoned; stopping", self.work.batch_id, self.work.run_id
            )

    def send_one(self, user: Recipient, delivery_id: int) -> None:
        try:
            message = self.composer(user, self.work.local_date)
        except PanchangError as err:
            # A day we cannot compute for this place is this user's failure alone.
            outcome = Outcome(Verdict.FINAL, error=str(err))
        else:
            outcome = deliver(self.transport, message, self.halt, self.deadline, self.policy)
        self._record(user, delivery_id, outcome)

    def _record(self, user: Recipient, delivery_id: int, outcome: Outcome) -> None:
        at = clock.now()
        verdict = outcome.verdict
        if verdict is Verdict.ACCEPTED:
            assert outcome.receipt is not None
            receipt = outcome.receipt
            if self.marks is not None:
                self.marks.add(delivery_id, receipt.status, receipt.message_id, at)
            else:
                ledger.mark_done(
                    self.connection(), delivery_id, receipt.status, receipt.message_id, at
                )
        elif verdict is Verdict.UNREACHABLE:
            # Rare, and two rows that belong together: one short transaction of its own.
            with session_scope(self.sessions) as session:
                ledger.mark_failed(session, delivery_id, outcome.error or verdict, at, outcome.code)
                mark_unreachable(session, user.id, outcome.code, at)
        else:
            with self.rare_write() as db:
                if verdict in (Verdict.HOLD, Verdict.FINAL):
                    ledger.mark_failed(db, delivery_id, outcome.error or verdict, at, outcome.code)
                else:  # DEFERRED, HALT, HALTED: not sent; the row goes back for a later run
                    ledger.release_one(db, delivery_id, self.token, at, outcome.error, outcome.code)
        metrics.TALLY.inc(metrics.MESSAGES, outcome=verdict.value, error_code=_code(outcome.code))
        if verdict not in (Verdict.ACCEPTED, Verdict.HALTED):
            log.warning(
                "user %s: %s after %d attempts: %s",
                user.id, verdict, outcome.attempts, outcome.error,
                extra={"user_id": user.id, "batch_id": self.work.batch_id,
                       "run_id": self.work.run_id, "zone": user.timezone,
                       "send_time": user.send_time, "verdict": str(verdict),
                       "error_code": outcome.code},
            )  # fmt: skip
        with self.lock:
            self.unsent.discard(delivery_id)
            counts = self.counts
            counts.sent += verdict is Verdict.ACCEPTED
            counts.failed += verdict in (Verdict.UNREACHABLE, Verdict.HOLD, Verdict.FINAL)
            counts.unreachable += verdict is Verdict.UNREACHABLE
            counts.deferred += verdict is Verdict.DEFERRED
        if verdict is Verdict.HALT:
            self._halt(outcome)

    def _halt(self, outcome: Outcome) -> None:
        with self.lock:
            self.halted = self.halted or outcome
        if not outcome.halted_first:
            return  # another thread or batch of the run halted it first, and told
        reason = outcome.error or "set-up error"
        with session_scope(self.sessions) as session:
            runs.record_halt(session, self.work.run_id, outcome.code, reason)
        work = self.work
        self.alerts.send(
            "halted", Slot(work.zone, work.send_time), work.local_date,
            f"Sending halted for {work.zone}@{work.send_time} ({work.local_date})",
            f"WhatsApp answered {reason}. No further messages go out for this slot until the "
            f"cause is fixed; then `panchang send-now {work.zone} --send-time {work.send_time} "
            f"--date {work.local_date}` sends the rest (nobody gets a second message).",
        )  # fmt: skip


def send_batch(
    sessions: sessionmaker[Session],
    transport: Transport,
    settings: Settings,
    batch_id: int,
    worker: Worker | None = None,
    composer: Composer = compose_message,
    *,
    redis_client: redis.Redis | None = None,
    policy: RetryPolicy = DEFAULT_POLICY,
) -> Counts | None:
    """Send one batch; returns this attempt's counts, or None when it had nothing to do.

    `redis_client` shares the run's halt switch and alert dedupe across workers (without it,
    both stay in this process). Raises whatever unexpected error stopped the batch, after
    recording it failed and releasing the claims it had not used.
    """
    worker = worker or Worker.here()
    token = uuid.uuid4().hex
    with session_scope(sessions) as session:
        work = runs.begin_batch(session, batch_id, worker, clock.now(), token)
    if work is None:
        log.info("batch %s: already ended, or its run was abandoned; nothing to do", batch_id)
        return None
    batch = _Batch(
        sessions, transport, composer, work, token, settings.claim_lease_s,
        Halt(redis_client, work.run_id), Alerts(settings, redis_client), _deadline(work, settings),
        policy,
    )  # fmt: skip
    users, claimed = _claim(batch)
    todo = [(user, claimed[user.id]) for user in users if user.id in claimed]
    if _concurrency(transport) > 1:
        batch.marks = MarkWriter(sessions.kw["bind"])
    try:
        _send_all(batch, todo)
        if batch.marks is not None:
            batch.marks.close()  # every success written before the batch reports
    except BaseException as err:
        _record_failure(batch, err)
        raise
    finally:
        batch.close_connections()
    with session_scope(sessions) as session:
        if batch.unsent:  # stopped early: halted, or abandoned while this batch was slow
            ledger.release(session, batch.token, *batch.work.scope)
        state = BatchState.HALTED if batch.halted else BatchState.DONE
        error = batch.halted.error if batch.halted else None
        outcome = runs.finish_batch(session, batch_id, batch.counts, clock.now(), state, error)
    if outcome is RunOutcome.COMPLETE or outcome is RunOutcome.FAILED:
        _alert_on_failures(batch, settings)
    return batch.counts


def _code(code: int | None) -> str:
    return "" if code is None else str(code)


def _deadline(work: BatchWork, settings: Settings) -> datetime | None:
    """No retry starts after the slot's grace period; a manual send has none."""
    if work.trigger == RunTrigger.MANUAL.value:
        return None
    start = occurrence_on(work.zone, work.send_time, work.local_date)
    return start + timedelta(seconds=settings.late_grace_s)


def _concurrency(transport: Transport) -> int:
    return max(1, int(getattr(transport, "concurrency", 1)))


def _send_all(batch: _Batch, todo: list[tuple[Recipient, int]]) -> None:
    concurrency = _concurrency(batch.transport)
    if concurrency == 1:
        for user, delivery_id in todo:
            if batch.may_send(delivery_id):
                batch.send_one(user, delivery_id)
            elif batch.halt.seen() or not batch.alive:
                return
        return
    # `concurrency` threads take the next user in turn: at most that many sends in flight.
    # The first thread to fail stops the others taking more, and its error is raised.
    queue = iter(todo)
    take = threading.Lock()
    failed: list[BaseException] = []

    def sender() -> None:
        while not failed:
            with take:
                item = next(queue, None)
                if item is not None and not batch.may_send(item[1]):
                    if batch.halt.seen() or not batch.alive:
                        return
                    continue
            if item is None:
                return
            try:
                batch.send_one(*item)
            except BaseException as err:
                failed.append(err)
                return

    threads = [
        threading.Thread(target=sender, name=f"batch{batch.work.batch_id}-{n}", daemon=True)
        for n in range(min(concurrency, len(todo)))
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    except BaseException as err:
        # Interrupted here (the task's soft time limit, a signal): stop the senders and wait
        # for their requests in flight before anyone releases this batch's claims, or a row
        # could be released and then sent by a thread still running.
        failed.append(err)
        for thread in threads:
            thread.join()
        raise
    if failed:
        raise failed[0]


def _claim(batch: _Batch) -> tuple[list[Recipient], dict[int, int]]:
    """Load the batch's users and claim their ledger rows for the batch's token."""
    work = batch.work
    with session_scope(batch.sessions) as session:
        query = (
            select(
                User.id, User.phone, User.timezone, User.send_time, User.latitude,
                User.longitude, City.name, User.language,
            )
            .outerjoin(City, City.id == User.city_id)
            .where(
                User.timezone == work.zone,
                User.send_time == work.send_time,
                User.sendable_at(work.active_at),
                User.id > work.after_id,
            )
        )  # fmt: skip
        if work.upto_id is not None:
            query = query.where(User.id <= work.upto_id)
        users = [Recipient(*row) for row in session.execute(query.order_by(User.id))]
        user_ids = [user.id for user in users]
        at = clock.now()
        claimed = ledger.create_and_claim(
            session, user_ids, work.local_date, work.zone, work.send_time, at, batch.lease_s,
            batch.token,
        )  # fmt: skip
        unclaimed = [user_id for user_id in user_ids if user_id not in claimed]
        batch.counts.held += ledger.count_held(session, unclaimed, work.local_date)
        runs.heartbeat(session, work.run_id, at)
    batch.counts.skipped += len(users) - len(claimed)
    batch.unsent = set(claimed.values())
    batch.claimed_at = at
    return users, claimed


def _record_failure(batch: _Batch, err: BaseException) -> None:
    """On an unexpected error: free the claims not used and record the batch failed.

    A row whose send raised stays unsent and is released too: the error may have come after
    the message left (a reset connection), so it may be sent twice rather than lost. The
    successes still queued for writing are written first, so they are not released.
    """
    try:
        if batch.marks is not None:
            batch.marks.close()
    except Exception:
        log.exception("batch %s: could not write its last successes", batch.work.batch_id)
    try:
        with session_scope(batch.sessions) as session:
            if batch.unsent:
                ledger.release(session, batch.token, *batch.work.scope)
            runs.finish_batch(
                session, batch.work.batch_id, batch.counts, clock.now(), BatchState.FAILED,
                f"{type(err).__name__}: {err}",
            )  # fmt: skip
    except Exception:
        # The database that broke the batch may refuse this too: the run then stops reporting
        # and the reconciler calls it abandoned after the lease.
        log.exception("could not record batch %s as failed", batch.work.batch_id)


def _alert_on_failures(batch: _Batch, settings: Settings) -> None:
    """Alert when the slot's final failures that day exceed the configured share of its users
    (failures a retry fixed are not failures: only `failed` rows count)."""
    work = batch.work
    with session_scope(batch.sessions) as session:
        rows = session.execute(
            select(Delivery.status, func.count())
            .where(
                Delivery.timezone == work.zone,
                Delivery.send_time == work.send_time,
                Delivery.local_date == work.local_date,
            )
            .group_by(Delivery.status)
        ).all()
    counts = {status: n for status, n in rows}
    total = sum(counts.values())
    failed = counts.get(DeliveryStatus.FAILED.value, 0)
    if total and failed / total > settings.alert_failure_ratio:
        batch.alerts.send(
            "failures", Slot(work.zone, work.send_time), work.local_date,
            f"{failed} of {total} messages failed for {work.zone}@{work.send_time} "
            f"({work.local_date})",
            f"Over {settings.alert_failure_ratio:.0%} of the slot's users. "
            f"`panchang failures --date {work.local_date} --zone {work.zone}` lists them.",
        )  # fmt: skip
