"""`send_for_timezone` in a real prefork `celery worker` fed through a real Redis broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from delivery import ledger
from models import SendRun, User
from tasks.app import SEND_TASK, create_app

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


# Short, so that the follow-up run after a dead run's lease comes within the test.
LEASE_S = 3


@pytest.fixture
def worker(settings: Settings, redis_url: str, tmp_path: Path) -> Iterator[Settings]:
    """A two-process prefork worker on the test database, outbox and Redis."""
    settings = replace(settings, claim_lease_s=LEASE_S)
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": redis_url,
        "PANCHANG_OUTBOX": str(settings.outbox_path),
        "PANCHANG_CLAIM_LEASE_S": str(LEASE_S),
    }
    log = (tmp_path / "worker.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tasks",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            "2",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        # Wait until it consumes: a claim the test makes with a 3 s lease must not expire
        # while the worker is still importing.
        deadline = time.monotonic() + 60
        while " ready." not in (tmp_path / "worker.log").read_text():
            assert proc.poll() is None, "worker exited at start"
            assert time.monotonic() < deadline, "worker not ready within 60 s"
            time.sleep(0.1)
        yield settings.with_redis(redis_url)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _add_users(sessions: sessionmaker[Session], send_time: str, now: datetime) -> list[int]:
    with sessions.begin() as session:
        users = [
            User(
                phone=f"+4420790000{n:02d}",
                timezone="UTC",
                latitude=51.5,
                longitude=-0.1,
                send_time=send_time,
                created_at=now - timedelta(days=1),
            )
            for n in range(3)
        ]
        session.add_all(users)
        session.flush()
        return [user.id for user in users]


def _finished_runs(sessions: sessionmaker[Session], count: int, timeout_s: float) -> list[SendRun]:
    deadline = time.monotonic() + timeout_s
    finished: list[SendRun] = []
    while time.monotonic() < deadline:
        with sessions() as session:
            finished = list(
                session.scalars(
                    select(SendRun).where(SendRun.outcome.is_not(None)).order_by(SendRun.id)
                )
            )
        if len(finished) >= count:
            break
        time.sleep(0.2)  # a real process: nothing to freeze, so poll
    return finished


def _outbox_phones(settings: Settings) -> list[str]:
    lines = [json.loads(x) for x in settings.outbox_path.read_text().splitlines()]
    return sorted(line["to"] for line in lines)


def test_worker_sends_a_slot_once_even_when_the_task_is_delivered_twice(
    worker: Settings, sessions: sessionmaker[Session]
) -> None:
    # The worker runs on the real clock, so the slot is the current UTC minute.
    now = datetime.now(UTC)
    send_time = f"{now:%H:%M}"
    _add_users(sessions, send_time, now)
    app = create_app(worker)
    for _ in range(2):
        app.send_task(SEND_TASK, args=("UTC", send_time))
    finished = _finished_runs(sessions, 2, timeout_s=60)
    assert [r.outcome for r in finished] == ["complete", "complete"]
    # Two processes may split the users between them; together they send each one once.
    assert sum(r.sent for r in finished) == 3
    assert sum(r.sent + r.skipped for r in finished) == 6
    assert _outbox_phones(worker) == [f"+4420790000{n:02d}" for n in range(3)]


def test_users_claimed_by_a_run_that_died_are_sent_by_the_follow_up_after_the_lease(
    worker: Settings, sessions: sessionmaker[Session]
) -> None:
    now = datetime.now(UTC)
    send_time = f"{now:%H:%M}"
    ids = _add_users(sessions, send_time, now)
    # What a worker SIGKILLed mid-batch leaves: two users claimed, neither sent nor failed.
    with sessions.begin() as session:
        ledger.ensure_rows(session, ids[:2], now.date(), "UTC", send_time, now)
        ledger.claim(session, ids[:2], now.date(), now, LEASE_S)
    # The redelivered task: it sends the third user and must not forget the other two.
    create_app(worker).send_task(SEND_TASK, args=("UTC", send_time))
    first, follow_up = _finished_runs(sessions, 2, timeout_s=60)
    assert (first.sent, first.skipped) == (1, 2)
    assert (follow_up.sent, follow_up.skipped, follow_up.local_date) == (2, 1, now.date())
    # The follow-up waited for the lease, and nobody got two messages.
    assert (follow_up.started_at - first.started_at).total_seconds() >= LEASE_S
    assert _outbox_phones(worker) == [f"+4420790000{n:02d}" for n in range(3)]
