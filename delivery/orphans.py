"""Batches whose worker process died: released and queued again within seconds.

A worker SIGKILLed mid-batch (`docker kill`, the OOM killer, a lost machine) leaves its batch
`running` with its users claimed. Celery cannot help: the task's message stays unacknowledged
in Redis until the visibility timeout (an hour), and the claims hold other runs off for the
lease (10 minutes). Every worker process keeps an alive key that lives a few seconds
(`ops.heartbeats`), and each batch records the liveness id of the process running it. A sweep,
run every few seconds by one worker process of the cluster (`tasks.orphans`), finds running
batches whose process has no alive key, releases their claims and queues the batch again; the
ledger sends only the users that have no message yet.

A missing key alone is not death: Redis may have just lost its data (FLUSHALL, a restart
without persistence, a failover to an empty replica), and every live process writes its key
again within one interval. So a process is dead only when its key is missing at two sweeps at
least `CONFIRM_S` apart, with no sweep between them finding it. A process alive but stalled for
longer than that (a frozen VM) may then send a few of its users a second time, which the
product prefers to a morning lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

import redis
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from core.names import alive_key, orphan_suspect_key
from delivery import ledger
from models import BatchState, SendBatch, SendRun
from models.db import session_scope
from ops.heartbeats import ALIVE_TTL_S

log = logging.getLogger(__name__)

# A missing alive key must stay missing this long (and across two sweeps) to mean death. Longer
# than a process needs to write its key again after Redis lost it (one heartbeat interval).
CONFIRM_S = 4.0
# How often the cluster sweeps: a dead process's batch is queued again at worst
# ALIVE_TTL_S + 2 * SWEEP_INTERVAL_S (6 + 5 + 5 s) after it died: its key's remaining life, the
# sweep that first misses it, and the next one (CONFIRM_S is shorter than an interval).
SWEEP_INTERVAL_S = 5.0
_SUSPECT_TTL_S = 10 * int(ALIVE_TTL_S + CONFIRM_S + SWEEP_INTERVAL_S)


@dataclass(frozen=True)
class Orphan:
    """A running batch of a run still in progress, the attempt that holds it, and its ledger
    rows (local date and user range)."""

    batch_id: int
    owner: str
    claim_token: str | None
    scope: tuple[date, int, int | None]


def running_batches(session: Session) -> list[Orphan]:
    """Batches running for runs in progress whose process is known (workers record it)."""
    rows = session.execute(
        select(
            SendBatch.id, SendBatch.owner, SendBatch.claim_token, SendRun.local_date,
            SendBatch.after_id, SendBatch.upto_id,
        )
        .join(SendRun, SendRun.id == SendBatch.run_id)
        .where(
            SendBatch.state == BatchState.RUNNING.value,
            SendBatch.owner.is_not(None),
            SendRun.outcome.is_(None),
        )
    ).all()  # fmt: skip
    return [
        Orphan(batch_id, owner, token, (day, after_id, upto_id))
        for batch_id, owner, token, day, after_id, upto_id in rows
        if owner
    ]


def dead_owners(client: redis.Redis, owners: set[str], now: datetime) -> set[str]:
    """Of `owners`, those whose alive key is missing now and was already missing at a sweep
    at least CONFIRM_S ago. Records first sightings; forgets owners seen alive again."""
    if not owners:
        return set()
    ordered = sorted(owners)
    with client.pipeline(transaction=False) as pipe:
        for owner in ordered:
            pipe.exists(alive_key(owner))
            pipe.get(orphan_suspect_key(owner))
        answers = pipe.execute()
    dead: set[str] = set()
    with client.pipeline(transaction=False) as pipe:
        for n, owner in enumerate(ordered):
            alive, suspected_at = answers[2 * n], answers[2 * n + 1]
            if alive:
                if suspected_at is not None:
                    pipe.delete(orphan_suspect_key(owner))
            elif suspected_at is None:
                pipe.set(orphan_suspect_key(owner), now.timestamp(), nx=True, ex=_SUSPECT_TTL_S)
            elif now.timestamp() - float(suspected_at) >= CONFIRM_S:
                dead.add(owner)
        pipe.execute()
    return dead


def requeue(session: Session, orphan: Orphan) -> bool:
    """Take the batch back from its dead attempt (conditionally: only if that attempt still
    holds it) and free the rows it claimed. True when this call took it."""
    taken = session.execute(
        update(SendBatch)
        .where(
            SendBatch.id == orphan.batch_id,
            SendBatch.state == BatchState.RUNNING.value,
            SendBatch.owner == orphan.owner,
        )
        .values(state=BatchState.PENDING.value, owner=None)
        .execution_options(synchronize_session=False)
    )
    if not taken.rowcount:  # type: ignore[attr-defined]
        return False
    if orphan.claim_token is not None:
        ledger.release(session, orphan.claim_token, *orphan.scope)
    return True


def sweep(
    sessions: sessionmaker[Session],
    client: redis.Redis,
    queue: Callable[[int], None],
    now: datetime,
) -> list[int]:
    """Queue again (`queue(batch_id)`) every running batch whose process is dead; returns
    their ids. Several sweepers may run at once: each batch is taken by one."""
    with session_scope(sessions) as session:
        running = running_batches(session)
    dead = dead_owners(client, {o.owner for o in running}, now)
    requeued: list[int] = []
    for orphan in running:
        if orphan.owner not in dead:
            continue
        with session_scope(sessions) as session:
            if not requeue(session, orphan):
                continue
        log.warning(
            "batch %s: its worker process is gone (no heartbeat for over %.0f s); released its "
            "claims and queued it again", orphan.batch_id, ALIVE_TTL_S + CONFIRM_S,
        )  # fmt: skip
        queue(orphan.batch_id)
        requeued.append(orphan.batch_id)
    return requeued
