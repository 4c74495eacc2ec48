"""`send_for_timezone` in a real prefork `celery worker` fed through a real Redis broker."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.names import SEND_TASK
from core.settings import Settings
from models import SendRun, User
from tasks.app import create_app
from tests.processes import Processes, outbox, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def worker(settings: Settings, redis_url: str, tmp_path: Path) -> Iterator[Settings]:
    """A two-process prefork worker (docker-compose.yml's command) on the test database,
    outbox and Redis."""
    settings = settings.with_redis(redis_url)
    procs = Processes(settings, tmp_path)
    procs.start("worker", "worker", "--concurrency=2", "--without-gossip", "--without-mingle")
    try:
        procs.wait_for_log("worker", " ready.")
        yield settings
    finally:
        procs.stop()


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


def _finished_runs(sessions: sessionmaker[Session]) -> list[SendRun]:
    with sessions() as session:
        return list(
            session.scalars(
                select(SendRun).where(SendRun.outcome.is_not(None)).order_by(SendRun.id)
            )
        )


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
    assert wait_until(lambda: len(_finished_runs(sessions)) >= 2, timeout_s=60)
    finished = _finished_runs(sessions)
    assert [r.outcome for r in finished] == ["complete", "complete"]
    # Two processes may split the users between them; together they send each one once.
    assert sum(r.sent for r in finished) == 3
    assert sum(r.sent + r.skipped for r in finished) == 6
    assert sorted(line["to"] for line in outbox(worker)) == [
        f"+4420790000{n:02d}" for n in range(3)
    ]
