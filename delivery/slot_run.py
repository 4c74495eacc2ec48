"""One run of a slot: every active user of (zone, send time) gets the day's message once.

Reads users in id-keyset batches of `settings.send_batch_size` (never the whole slot in
memory); per batch, three short transactions: ensure + claim ledger rows, then (outside any
transaction) compose and send, then mark results. A `SendRun` row records what happened.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core import clock
from core.errors import PanchangError
from core.settings import Settings
from delivery import ledger
from delivery.local_day import nearest_occurrence
from delivery.message import Composer, compose_message
from models import RunOutcome, SendRun, User
from models.db import session_scope
from transport.base import Transport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSummary:
    """What one run of a slot did. `sent`, `skipped` and `failed` count users."""

    zone: str
    send_time: str
    local_date: date
    outcome: RunOutcome
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    # Of `skipped`: users another run had claimed and not yet finished. If that run died, they
    # are still unsent; a run after the claim lease picks them up.
    held: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (ISO date, outcome as its string value)."""
        return {
            "zone": self.zone,
            "send_time": self.send_time,
            "local_date": self.local_date.isoformat(),
            "outcome": self.outcome.value,
            "sent": self.sent,
            "skipped": self.skipped,
            "failed": self.failed,
            "held": self.held,
        }


@dataclass
class _Counts:
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    held: int = 0


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
) -> RunSummary:
    """Send the day's message to every active user of (`zone`, `send_time` 'HH:MM').

    `now` (aware) is the run's logical time: it picks the local date (the occurrence of
    `send_time` nearest to it; more than `settings.late_grace_s` seconds away means a missed run
    that sends nothing) and who is active. `local_date` overrides that choice (manual sends).
    Ledger timestamps use `core.clock.now()`, the real time of each step. Users whose row is
    already sent, failed, or claimed by another run are counted as skipped, the last also as
    held (see RunSummary.held). Raises whatever unexpected error stopped the run, after
    recording the run as failed.
    """
    if local_date is None:
        occurrence = nearest_occurrence(zone, send_time, now)
        local_date = occurrence.local_date
        missed = occurrence.is_missed(settings.late_grace_s)
    else:
        missed = False
    run_id = _start_run(sessions, zone, send_time, local_date, now)
    counts = _Counts()

    def summary(outcome: RunOutcome) -> RunSummary:
        return RunSummary(
            zone,
            send_time,
            local_date,
            outcome,
            counts.sent,
            counts.skipped,
            counts.failed,
            counts.held,
        )

    if missed:
        log.warning(
            "slot %s@%s for %s missed: run at %s is over %ss from its send time",
            zone,
            send_time,
            local_date,
            now.isoformat(),
            settings.late_grace_s,
        )
        _finish(sessions, run_id, RunOutcome.MISSED, counts)
        return summary(RunOutcome.MISSED)
    try:
        after_id = 0
        while True:
            users = _next_batch(sessions, zone, send_time, now, after_id, settings.send_batch_size)
            if not users:
                break
            after_id = users[-1].id
            _send_batch(
                sessions,
                transport,
                composer,
                users,
                zone,
                send_time,
                local_date,
                settings.claim_lease_s,
                counts,
            )
    except BaseException as err:
        try:
            _finish(sessions, run_id, RunOutcome.FAILED, counts, f"{type(err).__name__}: {err}")
        except Exception:
            # The database that broke the run may refuse this too; the original error matters.
            log.exception("could not record send_run %s as failed", run_id)
        raise
    _finish(sessions, run_id, RunOutcome.COMPLETE, counts)
    return summary(RunOutcome.COMPLETE)


def _next_batch(
    sessions: sessionmaker[Session],
    zone: str,
    send_time: str,
    now: datetime,
    after_id: int,
    limit: int,
) -> list[User]:
    # Keyset on id (index ix_user_detail_slot_id), not OFFSET: stable while users come and go.
    with session_scope(sessions) as session:
        return list(
            session.scalars(
                select(User)
                .where(
                    User.timezone == zone,
                    User.send_time == send_time,
                    User.active_at(now),
                    User.id > after_id,
                )
                .order_by(User.id)
                .limit(limit)
            )
        )


def _send_batch(
    sessions: sessionmaker[Session],
    transport: Transport,
    composer: Composer,
    users: list[User],
    zone: str,
    send_time: str,
    local_date: date,
    lease_s: float,
    counts: _Counts,
) -> None:
    user_ids = [user.id for user in users]
    with session_scope(sessions) as session:
        at = clock.now()
        ledger.ensure_rows(session, user_ids, local_date, zone, send_time, at)
        claimed = ledger.claim(session, user_ids, local_date, at, lease_s)
        unclaimed = [user_id for user_id in user_ids if user_id not in claimed]
        counts.held += ledger.count_held(session, unclaimed, local_date)
    counts.skipped += len(users) - len(claimed)
    sent_ids: list[int] = []
    failures: list[tuple[int, str]] = []
    try:
        for user in users:
            delivery_id = claimed.get(user.id)
            if delivery_id is None:
                continue
            try:
                transport.send(composer(user, local_date))
            except PanchangError as err:
                # One user's failure (transport refused, or a day we cannot compute for their
                # place) is theirs alone: record it and serve the rest of the slot.
                log.warning("send to user %s failed: %s", user.id, err)
                failures.append((delivery_id, str(err)))
            else:
                sent_ids.append(delivery_id)
    finally:
        # Also on an unexpected error: what went out is recorded, so a later run after the
        # lease resends only the rows that really were not sent.
        with session_scope(sessions) as session:
            ledger.mark_sent(session, sent_ids, clock.now())
            for delivery_id, error in failures:
                ledger.mark_failed(session, delivery_id, error)
        counts.sent += len(sent_ids)
        counts.failed += len(failures)


def _start_run(
    sessions: sessionmaker[Session], zone: str, send_time: str, local_date: date, now: datetime
) -> int:
    with session_scope(sessions) as session:
        run = SendRun(
            timezone=zone,
            send_time=send_time,
            local_date=local_date,
            started_at=now,
            sent=0,
            skipped=0,
            failed=0,
        )
        session.add(run)
        session.flush()
        return run.id


def _finish(
    sessions: sessionmaker[Session],
    run_id: int,
    outcome: RunOutcome,
    counts: _Counts,
    error: str | None = None,
) -> None:
    with session_scope(sessions) as session:
        run = session.get_one(SendRun, run_id)
        run.finished_at = clock.now()
        run.outcome = outcome.value
        run.sent, run.skipped, run.failed = counts.sent, counts.skipped, counts.failed
        run.error = None if error is None else error[:500]
