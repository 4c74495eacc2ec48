"""`panchang health`: a healthy system, then each failure alone, on a real migrated database
(SQLite and Postgres) and a real Redis. Heartbeats are written with the same functions Beat,
workers and the sync use; the slow test runs a real worker and Beat."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner, Result
from sqlalchemy.orm import Session, sessionmaker

import redbeat_sync
from cli import main
from core import clock
from core.names import BEAT_HEARTBEAT_KEY, redbeat_lock_key, worker_heartbeat_key
from core.settings import Settings
from models import SendRun
from models.db import current_revision, make_engine, upgrade
from ops import heartbeats
from ops.health import Health, Observed, Thresholds, evaluate
from ops.heartbeats import Heartbeat, WorkerHeartbeat
from ops.probe import observe
from tests.helpers import add_users
from tests.processes import ROOT, Processes, sqlite_stack, wait_until

HOST = socket.gethostname()
TOKEN = "5f0c8e7a9b2d4c6e8f0a1b3c5d7e9f01"


@pytest.fixture(autouse=True)
def no_ambient_redis(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No REDIS_URL and no `panchang run` file: each test names its Redis explicitly."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def live(settings: Settings, redis_url: str) -> Settings:
    return settings.with_redis(redis_url)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def beat_ticks(client: redis.Redis, settings: Settings, host: str = HOST, pid: int = 0) -> None:
    """What the active Beat leaves in Redis: RedBeat's lock, and our heartbeat of its tick."""
    client.set(redbeat_lock_key(settings.redbeat_key_prefix), TOKEN, ex=30)
    tick = Heartbeat(host, pid or os.getpid(), clock.now().timestamp(), True, TOKEN)
    heartbeats.write_beat(client, tick, settings.beat_max_interval_s)


def worker_beats(client: redis.Redis, host: str = HOST, pid: int = 0) -> None:
    heartbeats.write_worker(client, Heartbeat(host, pid or os.getpid(), clock.now().timestamp()))


def make_healthy(settings: Settings, sessions: sessionmaker[Session], client: redis.Redis) -> None:
    add_users(sessions, "Asia/Kolkata", "06:30", 2)
    add_users(sessions, "America/St_Johns", "05:45", 1)
    redbeat_sync.sync(sessions, client, settings)  # creates the entries, records the sync
    beat_ticks(client, settings)
    worker_beats(client)


def check(settings: Settings, role: str | None = None) -> Health:
    limits = Thresholds.from_settings(settings.beat_max_interval_s, settings.sync_interval_s)
    return evaluate(observe(settings, role=role), limits)


def names(health: Health) -> list[str]:
    return [problem.split(":", 1)[0] for problem in health.problems]


def cli(settings: Settings, *args: str) -> Result:
    base = ["--database-url", settings.database_url]
    if settings.redis_url:
        base += ["--redis-url", settings.redis_url]
    return CliRunner().invoke(main, [*base, "health", *args])


# --- the whole system -------------------------------------------------------------------------


def test_healthy_system_is_ok_with_every_field_reported(
    live: Settings, sessions: sessionmaker[Session], redis_client: redis.Redis
) -> None:
    make_healthy(live, sessions, redis_client)
    redis_client.rpush("celery", "{}", "{}")  # two messages waiting
    result = cli(live, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True and report["problems"] == []
    assert report["redis"]["ok"] and report["database"]["ok"]
    assert report["database"]["revision"] == report["database"]["head"]
    beat = report["beat"]
    assert beat["locked"] is True and beat["last_tick_age_s"] < 5
    assert beat["holder"] == {"host": HOST, "pid": os.getpid(), "this_host": True}
    assert report["workers"]["fresh"] == 1
    assert report["queue_depth"] == 2
    assert report["last_sync_age_s"] < 5
    assert report["last_sync"] == {"created": 2, "updated": 0, "deleted": 0}
    assert report["entries"] == {"wanted": 2, "present": 2, "missing": []}
    assert report["today"]["runs"]["complete"] == 0 and report["today"]["dead_letters"] == 0
    assert TOKEN not in result.output  # the lock token is compared, never shown

    text = cli(live)
    assert text.exit_code == 0, text.output
    assert text.output.splitlines()[-1] == "ok"


def test_no_worker_heartbeat_is_the_one_problem(
    live: Settings, sessions: sessionmaker[Session], redis_client: redis.Redis
) -> None:
    make_healthy(live, sessions, redis_client)
    redis_client.delete(worker_heartbeat_key(HOST, os.getpid()))
    health = check(live)
    assert names(health) == ["workers"], health.problems
    result = cli(live)
    assert result.exit_code == 1
    assert result.output.splitlines()[-1].startswith("workers: no worker process anywhere")


def test_a_stale_worker_heartbeat_counts_as_none(
    live: Settings, sessions: sessionmaker[Session], redis_client: redis.Redis
) -> None:
    make_healthy(live, sessions, redis_client)
    redis_client.delete(worker_heartbeat_key(HOST, os.getpid()))
    with clock.frozen(datetime.now(UTC) - timedelta(seconds=25)):
        worker_beats(redis_client)  # its key still lives (TTL), but it is 25 s old
    assert names(check(live)) == ["workers"]


def test_no_beat_heartbeat_is_a_beat_problem(
    live: Settings, sessions: sessionmaker[Session], redis_client: redis.Redis
) -> None:
    make_healthy(live, sessions, redis_client)
    redis_client.delete(BEAT_HEARTBEAT_KEY)
    health = check(live)
    assert names(health) == ["beat"], health.problems
    assert "no Beat has ticked" in health.problems[0]
    assert health.report["beat"]["holder"] is None


def test_lock_not_held_is_a_beat_problem(
    live: Settings, sessions: sessionmaker[Session], redis_client: redis.Redis
) -> None:
    make_healthy(live, sessions, redis_client)
    redis_client.delete(redbeat_lock_key(live.redbeat_key_prefix))
    health = check(live)
    assert names(health) == ["beat"], health.problems
    assert "no Beat holds the RedBeat lock (redbeat::lock)" in health.problems[0]
    assert health.report["beat"]["locked"] is False


def test_a_stale_beat_tick_is_a_beat_problem(
    live: Settings, sessions: sessionmaker[Session], redis_client: redis.Redis
) -> None:
    make_healthy(live, sessions, redis_client)
    with clock.frozen(datetime.now(UTC) - timedelta(seconds=45)):
        beat_ticks(redis_client, live)
    health = check(live)
    assert names(health) == ["beat"], health.problems
    assert "last tick was 45 s ago" in health.problems[0]


def test_a_beat_that_lost_its_lock_says_so(
    live: Settings, sessions: sessionmaker[Session], redis_client: redis.Redis
) -> None:
    make_healthy(live, sessions, redis_client)
    lost = Heartbeat(HOST, 4242, clock.now().timestamp(), locked=False, token=TOKEN)
    heartbeats.write_beat(redis_client, lost, live.beat_max_interval_s)
    assert any("lost the RedBeat lock" in p for p in check(live).problems)


def test_stale_sync_is_the_one_problem(
    live: Settings, sessions: sessionmaker[Session], redis_client: redis.Redis
) -> None:
    make_healthy(live, sessions, redis_client)
    long_ago = datetime.now(UTC) - timedelta(seconds=2 * live.sync_interval_s + 60)
    with clock.frozen(long_ago):
        heartbeats.record_sync(redis_client, 0, 0, 0)
    health = check(live)
    assert names(health) == ["sync"], health.problems
    assert health.report["last_sync_age_s"] >= 2 * live.sync_interval_s + 60


def test_missing_entry_and_halted_run_are_named(
    live: Settings, sessions: sessionmaker[Session], redis_client: redis.Redis
) -> None:
    make_healthy(live, sessions, redis_client)
    add_users(sessions, "Asia/Kathmandu", "06:00", 1)  # no sync since: no entry
    now = clock.now()
    with sessions.begin() as session:
        session.add(
            SendRun(timezone="Asia/Kolkata", send_time="06:30", local_date=now.date(),
                    started_at=now, outcome="halted", error_code=190)
        )  # fmt: skip
    health = check(live)
    assert names(health) == ["entries", "runs"], health.problems
    assert "panchang:send:Asia/Kathmandu@06:00" in health.problems[0]
    assert health.report["today"]["runs"]["halted"] == 1


def test_redis_down_is_named_and_the_database_still_checked(
    live: Settings, sessions: sessionmaker[Session]
) -> None:
    down = live.with_redis(f"redis://127.0.0.1:{closed_port()}/0")
    started = time.monotonic()
    result = cli(down, "--json")
    assert time.monotonic() - started < 5
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert [p.split(":", 1)[0] for p in report["problems"]] == ["redis"]
    assert "cannot reach Redis" in report["problems"][0]
    assert report["database"]["ok"] is True
    assert report["beat"] is None and report["workers"] is None  # not checked, not guessed


def test_database_down_is_named(live: Settings, redis_client: redis.Redis) -> None:
    down = replace(live, database_url=f"postgresql+psycopg2://postgres@127.0.0.1:{closed_port()}/x")
    beat_ticks(redis_client, down)
    worker_beats(redis_client)
    heartbeats.record_sync(redis_client, 0, 0, 0)
    health = check(down)
    assert names(health) == ["database"], health.problems
    assert "cannot query the database" in health.problems[0]
    assert health.report["entries"] is None and health.report["today"] is None


def test_schema_behind_is_named(tmp_path: Path, redis_url: str) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    upgrade(engine, "0003")
    assert current_revision(engine) == "0003"
    engine.dispose()
    old = Settings(database_url=url, redis_url=redis_url)
    result = cli(old, "--role", "web")
    assert result.exit_code == 1
    problem = result.output.splitlines()[-1]
    assert problem.startswith("database: schema at 0003, the newest migration is ")
    assert "panchang db upgrade" in problem


# --- roles --------------------------------------------------------------------------------------


def test_role_web_checks_redis_and_database_only(live: Settings) -> None:
    result = cli(live, "--role", "web", "--json")  # no Beat, no worker, no sync: not its business
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["beat"] is None and report["workers"] is None and report["today"] is None


def test_role_worker_wants_a_worker_on_this_host(live: Settings, redis_client: redis.Redis) -> None:
    worker_beats(redis_client, host="other-host", pid=7)
    health = check(live, "worker")
    assert names(health) == ["workers"]
    assert f"on this host ({HOST})" in health.problems[0]
    worker_beats(redis_client)
    assert check(live, "worker").ok


def test_role_beat_on_a_standby_is_ok_while_another_host_holds_the_lock(
    live: Settings, redis_client: redis.Redis
) -> None:
    assert names(check(live, "beat")) == ["beat", "beat"]  # no lock, no tick
    beat_ticks(redis_client, live, host="beat-a", pid=1)
    health = check(live, "beat")
    assert health.ok, health.problems
    assert health.report["beat"]["holder"] == {"host": "beat-a", "pid": 1, "this_host": False}


def test_role_beat_flags_a_lock_held_by_something_that_does_not_tick(
    live: Settings, redis_client: redis.Redis
) -> None:
    with clock.frozen(datetime.now(UTC) - timedelta(seconds=15)):
        beat_ticks(redis_client, live)
    redis_client.set(redbeat_lock_key(live.redbeat_key_prefix), "someone-else", ex=30)
    health = check(live, "beat")
    assert names(health) == ["beat"]
    assert "does not tick" in health.problems[0]


# --- the heartbeat writers ----------------------------------------------------------------------


def test_worker_heartbeat_thread_refreshes_and_deletes_its_key(
    redis_url: str, redis_client: redis.Redis
) -> None:
    beat = WorkerHeartbeat(redis_url, interval_s=0.1).start()
    key = worker_heartbeat_key(HOST, os.getpid())
    assert wait_until(lambda: redis_client.exists(key) == 1, timeout_s=5, interval_s=0.05)
    first = json.loads(redis_client.get(key) or "{}")["at"]
    assert wait_until(
        lambda: json.loads(redis_client.get(key) or "{}")["at"] > first, 5, interval_s=0.05
    )
    assert 0 < redis_client.ttl(key) <= heartbeats.WORKER_HEARTBEAT_TTL_S
    beat.stop()
    assert redis_client.exists(key) == 0


def test_pure_evaluation_of_unreadable_heartbeats_never_crashes() -> None:
    assert Heartbeat.from_json("not json") is None
    assert Heartbeat.from_json('{"host": "h"}') is None
    seen = Observed(now=100.0, host="h", lock_checked=True, workers=[])
    health = evaluate(seen, Thresholds())
    assert not health.ok and names(health) == ["beat", "beat", "workers"]


# --- real processes -----------------------------------------------------------------------------


def health_json(env: dict[str, str], cwd: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "health", "--json"],
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode in (0, 1), done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


@pytest.fixture
def stack(redis_url: str, tmp_path: Path) -> Iterator[tuple[Settings, Processes]]:
    yield from sqlite_stack(redis_url, tmp_path)


@pytest.mark.slow
def test_real_worker_and_beat_report_ok_then_a_killed_worker_is_seen(
    stack: tuple[Settings, Processes], tmp_path: Path
) -> None:
    _, procs = stack
    procs.start("worker", "worker", "--concurrency=2")
    procs.start("beat", "beat")
    beat_pid = procs.procs["beat"].pid
    seen: list[dict[str, Any]] = []

    def healthy() -> bool:
        seen.append(health_json(procs.env, tmp_path))
        return bool(seen[-1]["ok"])

    # Beat syncs at start-up through the worker, and ticks every loop.
    assert wait_until(healthy, timeout_s=60, interval_s=1), (
        seen[-1:], procs.log("beat"), procs.log("worker")
    )  # fmt: skip
    report = seen[-1]
    assert report["beat"]["holder"] == {"host": HOST, "pid": beat_pid, "this_host": True}
    assert report["workers"]["fresh"] >= 2  # the main process and its two pool processes
    assert report["last_sync"] is not None

    procs.kill("worker")
    killed_at = time.monotonic()

    def worker_problem() -> bool:
        seen.append(health_json(procs.env, tmp_path))
        return any(p.startswith("workers:") for p in seen[-1]["problems"])

    assert wait_until(worker_problem, timeout_s=heartbeats.WORKER_HEARTBEAT_TTL_S + 10)
    assert time.monotonic() - killed_at <= heartbeats.WORKER_HEARTBEAT_TTL_S + 10
    assert [p.split(":", 1)[0] for p in seen[-1]["problems"]] == ["workers"]
    assert procs.procs["beat"].poll() is None
