"""The orphan sweep: a batch whose worker process died is released and sent again within
seconds, and a live one is never taken, not even when Redis loses its data."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core import clock
from core.names import ORPHAN_SWEEP_KEY, alive_key
from core.settings import Settings
from delivery import ledger, runs
from delivery.batch import send_batch
from delivery.orphans import CONFIRM_S, SWEEP_INTERVAL_S, requeue, running_batches, sweep
from delivery.runs import Worker
from delivery.slot_run import plan_run
from models import Delivery, SendBatch, SendRun, User
from models.db import session_scope
from ops.heartbeats import ALIVE_TTL_S, Heartbeat, write_worker
from tasks.orphans import sweep_once
from tests.helpers import add_users
from transport.outbox import OutboxTransport

ZONE, SLOT_TIME = "Asia/Kolkata", "06:30"
DAY = date(2026, 3, 14)
FIRE = datetime(2026, 3, 14, 1, 0, tzinfo=UTC)  # 06:30 in Kolkata


def a_batch_held_by(sessions: sessionmaker[Session], settings: Settings, owner: str) -> int:
    """A run of 6 users whose one batch a process with liveness id `owner` began: it claimed
    every user and sent the first two, and then (for the caller) died or not."""
    add_users(sessions, ZONE, SLOT_TIME, 6)
    with clock.frozen(FIRE):
        plan = plan_run(sessions, settings, ZONE, SLOT_TIME, FIRE)
    (batch_id,) = plan.batch_ids
    token = f"{owner}-token"
    with session_scope(sessions) as session:
        work = runs.begin_batch(session, batch_id, Worker("t1", "host-a", 4242, owner), FIRE, token)
        assert work is not None
        users = list(session.scalars(select(User.id).order_by(User.id)))
        ledger.ensure_rows(session, users, DAY, ZONE, SLOT_TIME, FIRE)
        claimed = ledger.claim(session, users, DAY, FIRE, settings.claim_lease_s, token)
        for user_id in users[:2]:
            ledger.mark_done(session, claimed[user_id], "sent", None, FIRE)
    return batch_id


def batch(sessions: sessionmaker[Session], batch_id: int) -> SendBatch:
    with sessions() as session:
        return session.get_one(SendBatch, batch_id)


def test_a_batch_whose_process_died_is_queued_again_and_its_unsent_users_get_one_message(
    sessions: sessionmaker[Session], settings: Settings, redis_client: redis.Redis
) -> None:
    batch_id = a_batch_held_by(sessions, settings, "dead0001")
    queued: list[int] = []

    # First sighting of the missing alive key: a suspicion, not yet a death.
    assert sweep(sessions, redis_client, queued.append, FIRE + timedelta(seconds=10)) == []
    assert batch(sessions, batch_id).state == "running"
    later = FIRE + timedelta(seconds=10 + CONFIRM_S)
    assert sweep(sessions, redis_client, queued.append, later) == [batch_id]
    assert queued == [batch_id]
    taken = batch(sessions, batch_id)
    assert (taken.state, taken.owner) == ("pending", None)
    with sessions() as session:
        claims = Counter(
            (d.status, d.claimed_by) for d in session.scalars(select(Delivery))
        )  # the dead attempt's claims are gone; its two sends stay done
    assert claims == Counter({("pending", None): 4, ("sent", "dead0001-token"): 2})
    assert sweep(sessions, redis_client, queued.append, later + timedelta(seconds=5)) == []

    # The queued batch, run by a live worker: the four the dead one had not sent, once each.
    with clock.frozen(later):
        counts = send_batch(sessions, OutboxTransport(settings.outbox_path), settings, batch_id)
    assert counts is not None and (counts.sent, counts.skipped) == (4, 2)
    assert len(settings.outbox_path.read_text().splitlines()) == 4
    with sessions() as session:
        assert session.scalars(select(SendRun.outcome)).one() == "complete"


def test_a_live_process_keeps_its_batch_even_when_redis_loses_its_data(
    sessions: sessionmaker[Session], settings: Settings, redis_client: redis.Redis
) -> None:
    batch_id = a_batch_held_by(sessions, settings, "live0001")
    queued: list[int] = []

    def heartbeat() -> None:
        write_worker(redis_client, Heartbeat("host-a", 4242, FIRE.timestamp()), "live0001")

    heartbeat()
    assert redis_client.ttl(alive_key("live0001")) == ALIVE_TTL_S
    for second in range(0, 60, 5):
        assert sweep(sessions, redis_client, queued.append, FIRE + timedelta(seconds=second)) == []
    # FLUSHALL: the key is gone until the process's next heartbeat, a sweep in between sees
    # it missing; the heartbeat comes before the death is confirmed.
    redis_client.flushall()
    assert sweep(sessions, redis_client, queued.append, FIRE + timedelta(seconds=60)) == []
    heartbeat()
    for second in range(60 + int(CONFIRM_S), 120, 5):
        assert sweep(sessions, redis_client, queued.append, FIRE + timedelta(seconds=second)) == []
    assert queued == [] and batch(sessions, batch_id).state == "running"


def test_a_dead_batch_is_taken_by_one_sweeper_when_several_race(
    sessions: sessionmaker[Session], settings: Settings, redis_client: redis.Redis
) -> None:
    batch_id = a_batch_held_by(sessions, settings, "dead0002")
    sweep(sessions, redis_client, lambda _b: None, FIRE)
    (orphan,) = running_batches(sessions())
    queued: list[int] = []
    # Both sweepers read the batch as running before either took it.
    with session_scope(sessions) as session:
        first = requeue(session, orphan)
    with session_scope(sessions) as session:
        second = requeue(session, orphan)
    assert (first, second) == (True, False)
    assert sweep(sessions, redis_client, queued.append, FIRE + timedelta(minutes=1)) == []
    assert batch(sessions, batch_id).state == "pending"


def test_batches_sent_outside_a_worker_are_never_swept(
    sessions: sessionmaker[Session], settings: Settings, redis_client: redis.Redis
) -> None:
    # `panchang send-now` sends in the CLI's own process, which has no alive key.
    add_users(sessions, ZONE, SLOT_TIME, 3)
    with clock.frozen(FIRE):
        plan = plan_run(sessions, settings, ZONE, SLOT_TIME, FIRE)
    with session_scope(sessions) as session:
        runs.begin_batch(session, plan.batch_ids[0], Worker.here(), FIRE, "cli-token")
    for second in (0, 30, 60):
        assert sweep(sessions, redis_client, print, FIRE + timedelta(seconds=second)) == []


def test_one_process_sweeps_per_interval_across_the_cluster(
    sessions: sessionmaker[Session], settings: Settings, redis_client: redis.Redis
) -> None:
    a_batch_held_by(sessions, settings, "dead0003")
    queued: list[int] = []
    redis_client.set(ORPHAN_SWEEP_KEY, "another process", ex=5)
    assert sweep_once(redis_client, sessions, queued.append) == []
    assert redis_client.keys("panchang:orphan-suspect:*") == []  # it did not look
    redis_client.delete(ORPHAN_SWEEP_KEY)
    sweep_once(redis_client, sessions, queued.append)
    assert redis_client.keys("panchang:orphan-suspect:*") == ["panchang:orphan-suspect:dead0003"]
    assert 0 < redis_client.ttl(ORPHAN_SWEEP_KEY) <= SWEEP_INTERVAL_S
