"""Faults injected for real into real processes (docker-compose.yml's Beat and worker
commands): the promise is one message per subscriber per local day, at the local send time,
on a bad day too. Each test prints its figures; FAULTS.md holds them."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

import redbeat_sync
from core.names import redbeat_entry_key, redbeat_lock_key, redbeat_schedule_key
from core.redis_conn import open_redis, parse_sentinels
from core.settings import Settings
from models import SendRun
from models.db import make_engine, session_factory, upgrade
from tests.conftest import _truncate, service_missing
from tests.faults import (
    PersistentRedis,
    PrivatePostgres,
    SentinelSet,
    local_hhmm,
    next_minute,
    sleep_until,
)
from tests.helpers import add_users
from tests.processes import Processes, outbox, sqlite_stack, wait_until

pytestmark = pytest.mark.slow

ZONE = "Asia/Kolkata"
USERS = 5


@dataclass
class Stack:
    settings: Settings
    procs: Processes
    sessions: sessionmaker[Session]
    client: redis.Redis

    def slot(self, at: datetime) -> str:
        """USERS subscribers in Kolkata whose send time is `at`, synced; the entry's key."""
        send_time = local_hhmm(at, ZONE)
        add_users(self.sessions, ZONE, send_time, USERS)
        redbeat_sync.sync(self.sessions, self.client, self.settings)
        return redbeat_entry_key(f"{self.settings.entry_prefix}{ZONE}@{send_time}")

    def running(self, lead_s: float, beat: str = "beat") -> tuple[datetime, str]:
        """A slot at the first whole minute `lead_s` away, and a worker and Beat running; the
        slot's time and its entry's key."""
        slot_at = next_minute(lead_s)
        entry = self.slot(slot_at)
        self.procs.start("worker", "worker", "--concurrency=2")
        self.procs.start(beat, "beat")
        self.procs.wait_for_log(beat, "Acquired lock")
        return slot_at, entry

    def served_once(self, beat: str = "beat", more_logs: Callable[[], str] = str) -> datetime:
        """Wait until every user has the message, check nobody has two, and return when the
        run that sent it started."""
        served = wait_until(self.served, 90)
        assert served, self.procs.log(beat) + self.procs.log("worker") + more_logs()
        self.sent_once_each()
        return self.sending_run().started_at

    def served(self) -> bool:
        return len({line["to"] for line in outbox(self.settings)}) == USERS

    def sent_once_each(self) -> Counter[str]:
        time.sleep(5)  # a second run, had there been one, would show up now
        counts = Counter(line["to"] for line in outbox(self.settings))
        assert len(counts) == USERS and set(counts.values()) == {1}, counts
        return counts

    def sending_run(self) -> SendRun:
        """The run that sent the slot. A second run may complete having sent nobody (when
        Beat and the reconciler both queue the slot after an outage): the ledger's doing."""
        with self.sessions() as session:
            runs = list(session.scalars(select(SendRun).order_by(SendRun.id)))
        shown = [(r.trigger, r.outcome, r.sent, r.error) for r in runs]
        assert sum(r.sent for r in runs) == USERS, shown
        assert all(r.outcome == "complete" for r in runs if r.sent), shown
        return min((r for r in runs if r.sent), key=lambda r: r.started_at)


def stack_on(redis_url: str, tmp_path: Path, database_url: str | None = None) -> Iterator[Stack]:
    """SQLite (or `database_url`, migrated here) and `redis_url`; stops what was started."""
    for settings, procs in sqlite_stack(redis_url, tmp_path):
        # A reconciler every 10 s keeps the tests short; every other rule is the default.
        settings = replace(settings, reconcile_interval_s=10)
        if database_url is not None:
            settings = replace(settings, database_url=database_url)
            upgrade(make_engine(database_url))
        procs.env.update(settings.to_env())
        client = open_redis(redis_url, decode_responses=True)
        yield Stack(settings, procs, session_factory(make_engine(settings.database_url)), client)
        client.close()


@pytest.fixture
def stack(redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    yield from stack_on(redis_url, tmp_path)


def test_redis_losing_its_data_just_before_a_slot_keeps_beat_running_and_sends_once(
    stack: Stack,
) -> None:
    # The fault as a new user met it: `redis-cli FLUSHALL` (or a restart without persistence,
    # or a failover to a replica that had not caught up). Beat used to die at its next tick
    # ("Cannot extend a lock that's no longer owned") and the slot was lost for the day.
    slot_at, entry = stack.running(30)

    sleep_until(slot_at - timedelta(seconds=3))
    stack.client.flushall()
    flushed_at = datetime.now(UTC)

    # Beat goes on: it retakes its lock, puts the statics back and has the entries synced.
    assert wait_until(lambda: bool(stack.client.exists(entry)), 30), stack.procs.log("beat")
    rebuilt_in = (datetime.now(UTC) - flushed_at).total_seconds()
    assert stack.client.exists(redbeat_lock_key(), redbeat_schedule_key()) == 2
    log = stack.procs.log("beat")
    assert "lock had vanished" in log and "rebuilding" in log, log
    # The slot's time passed while its entry was missing: the reconciler sends it, once.
    lateness = (stack.served_once() - slot_at).total_seconds()
    assert lateness < 60, lateness
    assert stack.procs.procs["beat"].poll() is None, stack.procs.log("beat")  # still running
    print(f"\nFAULT flush: rebuilt in {rebuilt_in:.1f} s; sent {lateness:.1f} s after the slot")


def test_redis_down_for_two_minutes_across_a_slot_sends_within_a_minute_of_its_return(
    tmp_path: Path,
) -> None:
    server = PersistentRedis(tmp_path / "redis").start()
    try:
        for stack in stack_on(server.url, tmp_path):
            slot_at, _ = stack.running(25)

            sleep_until(slot_at - timedelta(seconds=10))
            server.stop()
            time.sleep(120)
            server.start()
            back_at = datetime.now(UTC)

            started = stack.served_once()
            after_return = (started - back_at).total_seconds()
            assert after_return < 60, after_return
            for name in ("beat", "worker"):  # reconnected by themselves, never restarted
                assert stack.procs.procs[name].poll() is None, stack.procs.log(name)
            assert "Redis answers again" in stack.procs.log("beat")
            lateness = (started - slot_at).total_seconds()
            print(f"\nFAULT redis-down: sent {after_return:.1f} s after Redis came back, "
                  f"{lateness:.1f} s after the slot")  # fmt: skip
    finally:
        server.stop()


def test_the_active_beat_killed_before_a_slot_the_standby_sends_it_within_45_s(
    stack: Stack,
) -> None:
    slot_at, _ = stack.running(25, beat="beat-a")
    stack.procs.start("beat-b", "beat")  # the standby: waits for the lock
    stack.procs.wait_for_log("beat-b", "beat: Starting...")

    sleep_until(slot_at - timedelta(seconds=10))
    stack.procs.kill("beat-a")  # SIGKILL: the lock stays until its 30 s expire

    lateness = (stack.served_once(beat="beat-b") - slot_at).total_seconds()
    assert lateness < 45, lateness
    assert "Acquired lock" in stack.procs.log("beat-b")
    print(f"\nFAULT beat-kill: the standby sent the slot {lateness:.1f} s after its time")


def test_postgres_down_for_a_minute_across_a_slot_sends_once_when_it_is_back(
    redis_url: str, tmp_path: Path
) -> None:
    try:
        pg = PrivatePostgres().start()
    except (FileNotFoundError, OSError, subprocess.CalledProcessError) as err:
        service_missing(f"a private PostgreSQL cluster ({err})")
    try:
        for stack in stack_on(redis_url, tmp_path, database_url=pg.url):
            slot_at, _ = stack.running(35)

            sleep_until(slot_at - timedelta(seconds=30))
            pg.stop()
            # A sync that cannot read the database changes nothing in Redis.
            before = {k: stack.client.dump(k) for k in stack.client.keys("redbeat:*")}
            with pytest.raises(OperationalError):
                redbeat_sync.sync(stack.sessions, stack.client, stack.settings)
            assert {k: stack.client.dump(k) for k in stack.client.keys("redbeat:*")} == before
            sleep_until(slot_at + timedelta(seconds=30))
            pg.start()
            back_at = datetime.now(UTC)

            started = stack.served_once()
            after_return = (started - back_at).total_seconds()
            assert after_return < 60, after_return
            assert (started - slot_at).total_seconds() < stack.settings.late_grace_s
            print(f"\nFAULT postgres-down: sent {after_return:.1f} s after Postgres came back, "
                  f"{(started - slot_at).total_seconds():.1f} s after the slot")  # fmt: skip
    finally:
        pg.close()


def test_a_sentinel_failover_before_a_slot_loses_and_doubles_nobody(tmp_path: Path) -> None:
    # Broker, RedBeat, locks and the rate limiter all reach Redis through the sentinels.
    sentinels = SentinelSet(tmp_path / "sentinel").start()
    try:
        url = parse_sentinels(sentinels.sentinels, SentinelSet.MASTER).url
        for stack in stack_on(url, tmp_path):
            slot_at, _ = stack.running(25)
            sleep_until(slot_at - timedelta(seconds=10))
            sentinels.kill_master()  # SIGKILL
            killed_at = datetime.now(UTC)
            promoted = wait_until(lambda: sentinels.master_address()[1] == sentinels.replica_port,
                                  30)  # fmt: skip
            assert promoted, sentinels.log()
            failover_s = (datetime.now(UTC) - killed_at).total_seconds()

            started = stack.served_once(more_logs=sentinels.log)
            lateness = (started - slot_at).total_seconds()
            assert lateness < 60, lateness
            for name in ("beat", "worker"):
                assert stack.procs.procs[name].poll() is None, stack.procs.log(name)
            print(f"\nFAULT sentinel: failover in {failover_s:.1f} s; "
                  f"sent {lateness:.1f} s after the slot")  # fmt: skip
    finally:
        sentinels.stop()


@pytest.fixture
def pg_stack(postgres_url: str, redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    engine = make_engine(postgres_url)
    _truncate(engine)
    engine.dispose()
    yield from stack_on(redis_url, tmp_path, database_url=postgres_url)


def test_rows_the_old_web_app_writes_in_postgres_are_scheduled_within_seconds(
    pg_stack: Stack,
) -> None:
    # The old system's web app writes user_detail itself; no `panchang` command runs. The
    # periodic sync is an hour away (the PostgreSQL default): only the trigger can tell Beat.
    stack = pg_stack
    stack.settings = replace(stack.settings, sync_interval_s=3600)
    stack.procs.env.update(stack.settings.to_env())
    stack.procs.start("worker", "worker", "--concurrency=2")
    stack.procs.start("beat", "beat")
    stack.procs.wait_for_log("beat", "listening on panchang_user_slots")
    engine = make_engine(stack.settings.database_url)
    key = "redbeat:" + stack.settings.entry_prefix + "{}"

    def after(sql: str, entry: str, present: bool) -> float:
        """Seconds from the committed write until the entry is (or is no longer) there."""
        with engine.begin() as conn:
            conn.execute(text(sql))
        written = time.monotonic()
        seen = wait_until(lambda: bool(stack.client.exists(key.format(entry))) == present, 15,
                          interval_s=0.1)  # fmt: skip
        assert seen, stack.procs.log("beat") + stack.procs.log("worker")
        return time.monotonic() - written

    joined = after(
        "INSERT INTO user_detail (phone, timezone, latitude, longitude, send_time, created_at)"
        " VALUES ('+919845012345', 'Asia/Kolkata', 12.97, 77.59, '05:45', now())",
        "Asia/Kolkata@05:45", present=True,
    )  # fmt: skip
    moved = after("UPDATE user_detail SET send_time = '07:15'", "Asia/Kolkata@07:15", True)
    assert not stack.client.exists(key.format("Asia/Kolkata@05:45"))  # its last user left
    left = after("DELETE FROM user_detail", "Asia/Kolkata@07:15", present=False)
    engine.dispose()
    for seconds in (joined, moved, left):
        assert seconds < 5, (joined, moved, left)
    print(f"\nFAULT listen: entry created {joined:.1f} s, moved {moved:.1f} s, "
          f"deleted {left:.1f} s after the row was written")  # fmt: skip
