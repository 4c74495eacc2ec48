"""Real processes for the JIT side-by-side: what Celery does with the JIT planner's countdown
tasks under a fault, and how close to the send time each system fires.

Run: uv run python bench/jit_verify.py

Each scenario has its own redis-server (append-only, as compose runs it), SQLite database and
processes, and all aim at the same slot: 5 users in Asia/Kolkata whose send time is the first
whole minute at least 80 s away (T). The JIT planner runs in this process at T - 50 s (a real
planner run 10 minutes apart from the next would see the same window), and a real
`celery -A bench.jit_app worker` receives the countdown task.

- control: nothing breaks; the lag of each system's run behind T (ours: a real `celery beat`
  and worker with docker-compose.yml's commands);
- redis_down: the JIT's Redis stopped (SIGTERM) at T - 10 s, started again at T + 110 s;
- worker_killed: the JIT worker SIGKILLed at T - 10 s, a fresh one started at once;
- flush: FLUSHALL at T - 40 s, then the planner runs again at T - 30 s.
Each prints the messages each user got and where the countdown message is now.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_ROOT))

import redis  # noqa: E402
from sqlalchemy import select  # noqa: E402

import redbeat_sync  # noqa: E402
from bench.jit_app import create_jit_app, plan, queue_on  # noqa: E402
from core.settings import Settings  # noqa: E402
from models import SendRun  # noqa: E402
from models.db import make_engine, session_factory, upgrade  # noqa: E402
from scheduler.store import connect  # noqa: E402
from tests.faults import PersistentRedis, local_hhmm, next_minute, sleep_until  # noqa: E402
from tests.helpers import add_users  # noqa: E402
from tests.processes import Processes, stop_all, wait_until  # noqa: E402

ZONE = "Asia/Kolkata"
USERS = 5


def beat_commands(settings: Settings, burst: datetime) -> tuple[float, float]:
    """(Redis commands per second between fires, commands per task sent) of a real
    `celery beat` (ours) with the entries a fresh sync of `settings`' database writes.

    Slots fire in bursts on the quarter-hours (every zone offset and send time is a multiple of
    15 minutes). Beat starts 150 s before the quarter-hour `burst` (past its start-up), and is
    watched over 60 s around it and over 300 s after it, where only the statics fire; the two
    unknowns come from the two windows."""
    client = connect(settings.redis_url or "")
    client.flushall()
    redbeat_sync.sync(session_factory(make_engine(settings.database_url)), client, settings)
    print(f"our Beat: watching across {burst:%H:%M} UTC")
    sleep_until(burst - timedelta(seconds=150))
    workdir = Path(tempfile.mkdtemp(prefix="bench-beat-"))
    procs = Processes(settings, workdir)
    snapshots: list[dict[str, int]] = []
    marks = [burst + timedelta(seconds=s) for s in (-20, 40, 90, 390)]
    try:
        procs.start("beat", "beat")
        procs.wait_for_log("beat", "Acquired lock", 60)
        for at in marks:
            sleep_until(at)
            stats = client.info("commandstats")
            snapshots.append({k[8:]: int(v["calls"]) for k, v in stats.items()})
    finally:
        procs.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    windows = []
    for first, seconds in ((0, 60), (2, 300)):  # around the burst, then the quiet minutes
        before, after = snapshots[first], snapshots[first + 1]
        delta = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
        delta.pop("info", None)  # the snapshots themselves
        commands, fires = sum(delta.values()), delta.get("lpush", 0)
        print(f"  {seconds} s: {commands} commands, {fires} tasks sent: {sorted(delta.items())}")
        windows.append((float(commands), float(seconds), float(fires)))
    (c_b, w_b, f_b), (c_a, w_a, f_a) = windows
    det = w_a * f_b - w_b * f_a
    return (c_a * f_b - c_b * f_a) / det, (w_a * c_b - w_b * c_a) / det


def read_lines(path: Path) -> list[dict[str, Any]]:
    """A JSON-lines outbox, empty when nothing was written."""
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


class Scenario:
    """One slot's users in their own SQLite file, a persistent Redis, and processes."""

    def __init__(self, name: str, slot_at: datetime) -> None:
        self.name = name
        self.slot_at = slot_at
        self.dir = Path(tempfile.mkdtemp(prefix=f"jit-{name}-"))
        self.redis = PersistentRedis(self.dir / "redis").start()
        self.settings = Settings(
            database_url=f"sqlite:///{self.dir / 'panchang.db'}",
            redis_url=self.redis.url,
            outbox_path=self.dir / "outbox.jsonl",
            reconcile_interval_s=10,
        )
        upgrade(make_engine(self.settings.database_url))
        self.sessions = session_factory(make_engine(self.settings.database_url))
        add_users(self.sessions, ZONE, local_hhmm(slot_at, ZONE), USERS)
        self.client = connect(self.redis.url)
        self.procs = Processes(self.settings, self.dir)
        self.workers: list[subprocess.Popen[bytes]] = []
        self.notes: list[str] = []

    def jit_worker(self) -> None:
        log = (self.dir / f"jit-worker-{len(self.workers)}.log").open("wb")
        env = {
            **os.environ,
            "PYTHONPATH": str(_ROOT),
            "JIT_REDIS_URL": self.redis.url,
            "JIT_DATABASE_URL": self.settings.database_url,
            "JIT_OUTBOX": str(self.dir / "jit-outbox.jsonl"),
        }
        self.workers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "bench.jit_app",
                    "worker",
                    "--concurrency=2",
                    "--loglevel=INFO",
                ],
                env=env,
                cwd=self.dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def jit_log(self) -> str:
        return "".join(
            p.read_text(errors="replace") for p in sorted(self.dir.glob("jit-worker-*.log"))
        )

    def plan_now(self) -> int:
        queue = queue_on(create_jit_app(self.redis.url))
        return len(plan(self.sessions, self.client, queue, datetime.now(UTC)))

    def jit_messages(self) -> list[dict[str, Any]]:
        return read_lines(self.dir / "jit-outbox.jsonl")

    def where_is_the_message(self) -> str:
        try:
            return (
                f"queue {self.client.llen('celery')}, unacked (kombu, back after the 24 h "
                f"visibility timeout) {self.client.hlen('unacked')}"
            )
        except redis.RedisError as err:
            return f"Redis: {err}"

    def report(self, label: str, messages: list[dict[str, Any]], starts: list[datetime]) -> str:
        """Users by the messages they got, and when each run started, against T."""
        per_user = Counter(m["to"] for m in messages)
        got = dict(sorted(Counter(per_user.get(p, 0) for p in self.phones()).items()))
        lags = sorted({(at - self.slot_at).total_seconds() for at in starts})
        lag = ", ".join(f"{x:+.2f}" for x in lags)
        lag = f"runs started {lag} s from T" if lags else "no run"
        return f"{self.name}: {label}: users by messages received {got}; {lag}"

    def phones(self) -> list[str]:
        from models import User

        with self.sessions() as session:
            return list(session.scalars(select(User.phone)))

    def close(self) -> None:
        stop_all(self.workers)
        self.procs.stop()
        self.redis.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def jit_scenario(s: Scenario, fault: Callable[[Scenario], None]) -> str:
    slot_at = s.slot_at
    try:
        s.jit_worker()
        sleep_until(slot_at - timedelta(seconds=50))
        queued = s.plan_now()
        assert queued == 1, queued
        assert wait_until(lambda: "received" in s.jit_log(), 20), s.jit_log()
        fault(s)
        sleep_until(max(slot_at, datetime.now(UTC)) + timedelta(seconds=60))
        notes = "".join(f"; {n}" for n in s.notes)
        messages = s.jit_messages()
        starts = [datetime.fromisoformat(m["started_at"]) for m in messages]
        return (
            f"{s.report('JIT', messages, starts)}; the countdown message: "
            f"{s.where_is_the_message()}{notes}"
        )
    finally:
        s.close()


def our_control(s: Scenario) -> str:
    slot_at = s.slot_at
    try:
        redbeat_sync.sync(s.sessions, s.client, s.settings)
        s.procs.start("worker", "worker", "--concurrency=2")
        s.procs.start("beat", "beat")
        s.procs.wait_for_log("beat", "Acquired lock")
        sleep_until(slot_at + timedelta(seconds=60))
        with s.sessions() as session:
            starts = [r.started_at for r in session.scalars(select(SendRun))]
        return s.report("ours", read_lines(s.settings.outbox_path), starts)
    finally:
        s.close()


def redis_down(s: Scenario) -> None:
    sleep_until(s.slot_at - timedelta(seconds=10))
    s.redis.stop()
    sleep_until(s.slot_at + timedelta(seconds=110))
    s.redis.start()


def worker_killed(s: Scenario) -> None:
    sleep_until(s.slot_at - timedelta(seconds=10))
    for proc in s.workers:
        os.killpg(proc.pid, 9)
        proc.wait()
    s.jit_worker()


def flush(s: Scenario) -> None:
    sleep_until(s.slot_at - timedelta(seconds=40))
    s.client.flushall()
    sleep_until(s.slot_at - timedelta(seconds=30))
    s.notes.append(f"second planner run queued {s.plan_now()}")
    assert wait_until(lambda: s.jit_log().count("received") >= 2, 20), s.jit_log()


def main() -> None:
    slot_at = next_minute(80)
    print(f"slot T = {slot_at:%H:%M:%S} UTC ({local_hhmm(slot_at, ZONE)} in {ZONE}), {USERS} users")
    results: dict[str, str] = {}
    # Set up one after another: free ports and migrations are not for threads to race on.
    made: dict[str, Scenario] = {}
    try:
        for name in ("ours", "control", "redis_down", "worker_killed", "flush"):
            made[name] = Scenario(name, slot_at)
    except BaseException:
        for scenario in made.values():  # each job closes its own; these never ran
            scenario.close()
        raise
    jobs: dict[str, Callable[[], str]] = {
        "ours": lambda: our_control(made["ours"]),
        "control": lambda: jit_scenario(made["control"], lambda s: None),
        "redis_down": lambda: jit_scenario(made["redis_down"], redis_down),
        "worker_killed": lambda: jit_scenario(made["worker_killed"], worker_killed),
        "flush": lambda: jit_scenario(made["flush"], flush),
    }

    def run(name: str, job: Callable[[], str]) -> None:
        try:
            results[name] = job()
        except BaseException as err:  # reported below, with the others
            results[name] = f"{name}: FAILED {type(err).__name__}: {err}"

    threads = [threading.Thread(target=run, args=item) for item in jobs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name in jobs:
        print(results[name])


if __name__ == "__main__":
    main()
