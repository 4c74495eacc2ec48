"""`send_for_timezone` in a real prefork `celery worker` fed through a real Redis broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from models import SendRun, User
from tasks.app import SEND_TASK, create_app

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture
def worker(settings: Settings, redis_url: str, tmp_path: Path) -> Iterator[Settings]:
    """A two-process prefork worker on the test database, outbox and Redis."""
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": redis_url,
        "PANCHANG_OUTBOX": str(settings.outbox_path),
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
        yield settings.with_redis(redis_url)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_worker_sends_a_slot_once_even_when_the_task_is_delivered_twice(
    worker: Settings, sessions: sessionmaker[Session]
) -> None:
    # The worker runs on the real clock, so the slot is the current UTC minute.
    now = datetime.now(UTC)
    send_time = f"{now:%H:%M}"
    with sessions.begin() as session:
        for n in range(3):
            session.add(
                User(
                    phone=f"+4420790000{n:02d}",
                    timezone="UTC",
                    latitude=51.5,
                    longitude=-0.1,
                    send_time=send_time,
                    created_at=now - timedelta(days=1),
                )
            )
    app = create_app(worker)
    for _ in range(2):
        app.send_task(SEND_TASK, args=("UTC", send_time))
    deadline = time.monotonic() + 60
    finished: list[SendRun] = []
    while time.monotonic() < deadline:
        with sessions() as session:
            finished = list(session.scalars(select(SendRun).where(SendRun.outcome.is_not(None))))
        if len(finished) == 2:
            break
        time.sleep(0.2)  # a real process: nothing to freeze, so poll
    assert [r.outcome for r in finished] == ["complete", "complete"]
    # Two processes may split the users between them; together they send each one once.
    assert sum(r.sent for r in finished) == 3
    assert sum(r.sent + r.skipped for r in finished) == 6
    lines = [json.loads(x) for x in worker.outbox_path.read_text().splitlines()]
    assert sorted(line["to"] for line in lines) == [f"+4420790000{n:02d}" for n in range(3)]
