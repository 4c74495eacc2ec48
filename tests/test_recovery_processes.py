"""Recovery with real processes: every path ends in the send reconciler, and the ledger keeps
each user to one message (or two, for the one message in flight when a process died).

Workers and Beat are docker-compose.yml's commands; a worker that must misbehave runs the
product's app through `tests.fault_worker`, whose outbox can be slow or fail once.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import redbeat_sync
from core.names import SEND_TASK
from core.settings import Settings
from models import Delivery, SendRun, User
from models.db import make_engine, session_factory, upgrade
from tasks.app import create_app
from tests.faults import next_minute
from tests.helpers import add_users
from tests.processes import Processes, outbox, wait_until

pytestmark = pytest.mark.slow


def local_hhmm(instant: datetime, zone: str) -> str:
    return instant.astimezone(ZoneInfo(zone)).strftime("%H:%M")


def phones_of(sessions: sessionmaker[Session]) -> set[str]:
    with sessions() as session:
        return set(session.scalars(select(User.phone)))


def all_runs(sessions: sessionmaker[Session]) -> list[SendRun]:
    with sessions() as session:
        return list(session.scalars(select(SendRun).order_by(SendRun.id)))


def sqlite_stack(
    tmp_path: Path, redis_url: str, **changes: Any
) -> tuple[Settings, sessionmaker[Session]]:
    """Settings on a migrated SQLite file and the given Redis, and sessions for it."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'panchang.db'}",
        redis_url=redis_url,
        outbox_path=tmp_path / "outbox.jsonl",
        **changes,
    )
    engine = make_engine(settings.database_url)
    upgrade(engine)
    return settings, session_factory(engine)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[list[Processes]]:
    """Holds the test's Processes and stops them, whatever the test's outcome."""
    held: list[Processes] = []
    yield held
    for group in held:
        group.stop()


def test_a_worker_killed_mid_batch_has_its_batch_sent_within_45_s_of_the_slot(
    sessions: sessionmaker[Session],
    settings: Settings,
    redis_url: str,
    redis_client: redis.Redis,
    tmp_path: Path,
    procs: list[Processes],
) -> None:
    # The default lease (600 s) and reconcile interval (60 s): neither could rescue the batch
    # in time. The orphan sweep does: the killed processes' alive keys expire, and a live
    # worker releases the batch's claims and queues it again.
    settings = settings.with_redis(redis_url)
    zone = "Asia/Kolkata"
    slot_at = next_minute(20)
    add_users(sessions, zone, local_hhmm(slot_at, zone), 20)
    redbeat_sync.sync(sessions, redis_client, settings)
    everyone = phones_of(sessions)

    group = Processes(settings, tmp_path)
    procs.append(group)
    # One process sends the slot's one batch, 0.4 s per message: one request in flight.
    group.start(
        "worker-a", "worker", "--concurrency=1", app="tests.fault_worker",
        PANCHANG_TEST_SEND_DELAY_S="0.4",
    )  # fmt: skip
    group.start("beat", "beat")
    group.wait_for_log("worker-a", " ready.")
    assert wait_until(lambda: len(outbox(settings)) >= 5, timeout_s=90), group.log("worker-a")
    group.kill("worker-a")  # SIGKILL to the worker and its pool, mid-batch
    killed_at = datetime.now(UTC)
    sent_before_kill = len(outbox(settings))
    assert sent_before_kill < 20, "the kill came too late to be mid-batch"

    # Compose restarts the container; any other worker would do as well.
    group.start("worker-b", "worker", "--concurrency=1")
    done = wait_until(lambda: {line["to"] for line in outbox(settings)} >= everyone, 60)
    assert done, (group.log("beat"), group.log("worker-b"))
    served_at = max(datetime.fromisoformat(line["sent_at"]) for line in outbox(settings))
    time.sleep(4)  # a duplicate from a late run would show up now
    counts = Counter(line["to"] for line in outbox(settings))
    duplicates = sum(n - 1 for n in counts.values())
    # The bound: one process was sending, one message at a time, so at most the one message
    # whose send had returned but was not yet marked is sent twice.
    assert set(counts) == everyone
    assert duplicates <= 1, counts
    assert (served_at - slot_at).total_seconds() <= 45, (slot_at, killed_at, served_at)
    runs = all_runs(sessions)
    # One run, whose batch the sweep gave to the second worker: nothing waited for the lease.
    assert [(r.trigger, r.outcome) for r in runs] == [("beat", "complete")], runs
    assert "its worker process is gone" in group.log("worker-b")
    with sessions() as session:
        statuses = Counter(session.scalars(select(Delivery.status)))
    assert statuses == Counter({"sent": len(everyone)})
    print(
        f"FAULT worker killed {(killed_at - slot_at).total_seconds():.1f} s after the slot, "
        f"{sent_before_kill} of 20 sent: all served {(served_at - slot_at).total_seconds():.1f} "
        f"s after the slot, {duplicates} duplicated"
    )


def test_a_run_that_raises_on_user_2_of_5_is_rerun_by_the_reconciler_within_two_minutes(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path, procs: list[Processes]
) -> None:
    # The default reconcile interval (60 s) and lease.
    settings, sessions = sqlite_stack(tmp_path, redis_url)
    zone = "Europe/London"
    send_time = local_hhmm(datetime.now(UTC), zone)
    add_users(sessions, zone, send_time, 5, lat=51.51, lon=-0.13)
    redbeat_sync.sync(sessions, redis_client, settings)
    with sessions() as session:
        second = session.scalars(select(User.phone).order_by(User.id)).all()[1]

    group = Processes(settings, tmp_path)
    procs.append(group)
    group.start(
        "worker", "worker", "--concurrency=1", app="tests.fault_worker",
        PANCHANG_TEST_FAIL_ONCE_FOR=second, PANCHANG_TEST_FAIL_ONCE_FLAG=str(tmp_path / "failed"),
    )  # fmt: skip
    group.wait_for_log("worker", " ready.")
    group.start("beat", "beat")
    create_app(settings).send_task(SEND_TASK, args=(zone, send_time))  # what Beat sends

    assert wait_until(lambda: any(r.outcome == "failed" for r in all_runs(sessions)), 60)
    failed = next(r for r in all_runs(sessions) if r.outcome == "failed")
    assert failed.sent == 1 and "ConnectionResetError" in (failed.error or "")
    assert wait_until(lambda: len(outbox(settings)) >= 5, 150), group.log("worker")
    time.sleep(3)
    counts = Counter(line["to"] for line in outbox(settings))
    assert counts == Counter(phones_of(sessions))  # everyone exactly once
    rerun = all_runs(sessions)[-1]
    assert (rerun.trigger, rerun.outcome, rerun.sent) == ("reconcile", "complete", 4)
    assert failed.finished_at is not None
    assert rerun.started_at - failed.finished_at < timedelta(minutes=2)


def test_beat_started_after_the_slot_time_sends_it_late_and_once(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path, procs: list[Processes]
) -> None:
    settings, sessions = sqlite_stack(tmp_path, redis_url, reconcile_interval_s=10)
    target = (datetime.now(UTC) + timedelta(seconds=75)).replace(second=0, microsecond=0)
    # Kathmandu's entry exists before its time; St John's is created only after it passed,
    # as after a deployment or a lost Redis: its entry's first scheduled fire is tomorrow.
    add_users(
        sessions, "Asia/Kathmandu", local_hhmm(target, "Asia/Kathmandu"), 2, lat=27.72, lon=85.32
    )
    redbeat_sync.sync(sessions, redis_client, settings)
    group = Processes(settings, tmp_path)
    procs.append(group)
    group.start("worker", "worker", "--concurrency=2")

    assert wait_until(lambda: datetime.now(UTC) > target + timedelta(seconds=5), 120)
    add_users(
        sessions,
        "America/St_Johns",
        local_hhmm(target, "America/St_Johns"),
        2,
        lat=47.56,
        lon=-52.71,
    )
    redbeat_sync.sync(sessions, redis_client, settings)
    assert outbox(settings) == []  # no Beat yet: nothing went out at the send time
    group.start("beat", "beat")
    beat_started = datetime.now(UTC)

    assert wait_until(lambda: len(outbox(settings)) >= 4, 90), (
        group.log("beat"),
        group.log("worker"),
    )
    time.sleep(5)
    lines = outbox(settings)
    assert Counter(line["to"] for line in lines) == Counter(phones_of(sessions))
    for line in lines:
        sent_at = datetime.fromisoformat(line["sent_at"])
        assert (
            line["local_date"] == target.astimezone(ZoneInfo(line["timezone"])).date().isoformat()
        )
        # Late, but within a reconcile interval (plus the settle time) of Beat's start.
        assert sent_at - beat_started < timedelta(seconds=2 * settings.reconcile_interval_s + 10)
    by_zone = {r.timezone: r for r in all_runs(sessions) if r.outcome == "complete" and r.sent}
    assert by_zone["America/St_Johns"].trigger == "reconcile"
