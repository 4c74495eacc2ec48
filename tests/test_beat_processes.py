"""Real `celery beat` (two of them) and a real worker, started with docker-compose.yml's own
commands: each slot fires once at local time.

Slots sit in Asia/Kathmandu (+05:45) and America/St_Johns (-03:30 / -02:30), due at the next
whole minute. Two Beats run; RedBeat's lock lets one send. Then the active Beat is killed and
the standby must take over and send the next slot.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis
from sqlalchemy import select

import redbeat_sync
from core.settings import Settings
from models import SendRun, User
from models.db import make_engine, session_factory
from tests.helpers import add_users
from tests.processes import Processes, outbox, sqlite_stack

pytestmark = pytest.mark.slow

ZONES = ("Asia/Kathmandu", "America/St_Johns")


def next_minute(lead_s: float) -> datetime:
    """The first whole UTC minute at least `lead_s` seconds from now (a whole minute in
    every zone used here too, since their offsets are whole minutes)."""
    moment = datetime.now(UTC) + timedelta(seconds=lead_s)
    return moment.replace(second=0, microsecond=0) + timedelta(minutes=1)


def local_hhmm(instant: datetime, zone: str) -> str:
    return instant.astimezone(ZoneInfo(zone)).strftime("%H:%M")


@pytest.fixture
def stack(redis_url: str, tmp_path: Path) -> Iterator[tuple[Settings, Processes]]:
    yield from sqlite_stack(redis_url, tmp_path)


def wait_for_lines(settings: Settings, count: int, deadline: datetime) -> list[dict]:  # type: ignore[type-arg]
    while datetime.now(UTC) < deadline:
        lines = outbox(settings)
        if len(lines) >= count:
            time.sleep(3)  # a duplicate would show up right after
            return outbox(settings)
        time.sleep(0.5)
    return outbox(settings)


def beat_sends(procs: Processes, name: str) -> list[str]:
    return [
        line
        for b in ("beat-a", "beat-b")
        for line in procs.log(b).splitlines()
        if "Sending due task" in line and name in line
    ]


def test_two_beats_and_a_worker_send_each_slot_once_at_local_time_and_fail_over(
    stack: tuple[Settings, Processes],
) -> None:
    settings, procs = stack
    sessions = session_factory(make_engine(settings.database_url))
    client = redis.Redis.from_url(settings.require_redis_url(), decode_responses=True)

    target = next_minute(lead_s=20)
    for zone in ZONES:
        add_users(sessions, zone, local_hhmm(target, zone), 2)
    with sessions() as session:
        phones = {p: z for p, z in session.execute(select(User.phone, User.timezone))}
    report = redbeat_sync.sync(sessions, client, settings)
    assert len(report.created) == 2

    procs.start("worker", "worker", "--concurrency=2")
    procs.start("beat-a", "beat")
    procs.start("beat-b", "beat")

    lines = wait_for_lines(settings, 4, target + timedelta(seconds=45))
    assert len(lines) == 4, (procs.log("beat-a"), procs.log("beat-b"), procs.log("worker"))
    assert sorted(line["timezone"] for line in lines) == sorted(ZONES * 2)
    assert len({line["to"] for line in lines}) == 4  # each user exactly once
    for line in lines:
        assert line["timezone"] == phones[line["to"]]  # each user got their own zone's slot
        sent_at = datetime.fromisoformat(line["sent_at"])
        assert target <= sent_at < target + timedelta(seconds=15), line
        assert (
            line["local_date"] == target.astimezone(ZoneInfo(line["timezone"])).date().isoformat()
        )
        assert line["send_time"] == local_hhmm(target, line["timezone"])
    # Exactly one Beat sent each slot, and each slot ran once.
    for zone in ZONES:
        name = f"panchang:send:{zone}@{local_hhmm(target, zone)}"
        assert len(beat_sends(procs, name)) == 1, name
    with sessions() as session:
        runs = session.scalars(select(SendRun)).all()
    assert sorted((r.timezone, r.outcome) for r in runs) == [(z, "complete") for z in sorted(ZONES)]

    # Fail-over: kill the Beat holding the lock without letting it release it.
    holder = "beat-a" if "Acquired lock" in procs.log("beat-a") else "beat-b"
    standby = "beat-b" if holder == "beat-a" else "beat-a"
    assert "Acquired lock" not in procs.log(standby)
    procs.kill(holder)
    killed_at = datetime.now(UTC)
    # Lock timeout (30 s) plus one Beat loop (10 s) bounds the takeover.
    second = next_minute(lead_s=settings.beat_lock_timeout_s + settings.beat_max_interval_s + 5)
    zone = "Asia/Kathmandu"
    add_users(sessions, zone, local_hhmm(second, zone), 1)
    redbeat_sync.sync(sessions, client, settings)
    lines = wait_for_lines(settings, 5, second + timedelta(seconds=45))
    assert len(lines) == 5, (procs.log(standby), procs.log("worker"))
    late = datetime.fromisoformat(lines[-1]["sent_at"])
    assert second <= late < second + timedelta(seconds=15)
    assert "Acquired lock" in procs.log(standby)
    assert late - killed_at < timedelta(seconds=100)
