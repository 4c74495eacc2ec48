"""Benchmark: the JIT planner this product replaces, beside it, over a simulated day.

Run: uv run python bench/jit_planner.py [--part day|faults|all] [--users 1000000] [--reuse]

Uses the database of bench/sync.py (1,000,000 active users in 400 zones, 2,452 slots; seeded
unless `--reuse` finds it seeded) and a private redis-server. The old system is
`bench.jit_app`, re-implemented from its description; `bench.jit_model` plays its day event by
event. Real-process checks of the Celery behaviour the model rests on, and of fire precision,
are in bench/jit_verify.py.

--part day, the same UTC day (2026-11-21) for both systems, each component called at the
instants it would run, against the real Postgres and Redis:
- JIT: the planner every 600 s (its lead-in runs before midnight not counted), each queued
  task sent to the real broker with its countdown;
- ours: a full sync every hour (PANCHANG_SYNC_INTERVAL_S on PostgreSQL; changes arrive by the
  trigger in between), the send reconciler every minute over a history of complete runs, and
  one slot's delivery with the outbox-like null transport, per user;
- the JIT's Beat is the stock scheduler, whose state is a local file: its only Redis
  commands are its 144 task sends.
Rows read are Postgres's own counters (seq_tup_read of the tables plus idx_tup_read of their
indexes); Redis commands are INFO commandstats deltas, less the INFO calls themselves.

--part beat: a real `celery beat` (ours) with the 2,452 entries, watched across a quarter-hour
(when a burst of slots fires: every zone's offset and every send time is a multiple of 15
minutes) and for 5 minutes after it: Redis commands per second when idle and per task sent,
hence per day.

--part faults: the JIT's day under each fault of FAULTS.md, at the same moment relative to the
day's largest slot (Asia/Kolkata 06:30, 01:00 UTC) for 20 phases of its 600 s Beat, and at 96
random moments of the day (seed 96): users lost and duplicated.
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_ROOT))

import redis  # noqa: E402
from celery.schedules import crontab  # noqa: E402
from sqlalchemy import Engine, select, text  # noqa: E402

import redbeat_sync  # noqa: E402
from bench.counters import Meter  # noqa: E402
from bench.jit_app import Queued, create_jit_app, plan, queue_on  # noqa: E402
from bench.jit_model import Fault, planner_runs, simulate  # noqa: E402
from bench.reconcile import DAY, history  # noqa: E402
from bench.sync import DEFAULT_DB, machine_line, seeded_engine  # noqa: E402
from core import clock  # noqa: E402
from core.settings import Settings  # noqa: E402
from delivery.local_day import occurrence_on  # noqa: E402
from delivery.reconcile import reconcile  # noqa: E402
from delivery.slot_run import run_slot  # noqa: E402
from embedded import redis_server  # noqa: E402
from models import User  # noqa: E402
from models.db import session_factory, session_scope  # noqa: E402
from scheduler.slots import Slot  # noqa: E402
from scheduler.store import connect  # noqa: E402
from tasks.app import create_app  # noqa: E402
from transport.base import Message, Receipt  # noqa: E402

START = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
END = START + timedelta(days=1)
KOLKATA = Slot("Asia/Kolkata", "06:30")
PHASES_S = [30.0 * k for k in range(20)]
# The faults of FAULTS.md, each at the same moment relative to a slot as its test there.
FAULTS: list[tuple[str, str, float, float]] = [
    # (label, kind, start relative to the slot in s, duration s)
    ("Redis loses its data 3 s before a slot (FLUSHALL)", "flush", -3, 0),
    ("Redis down for 2 minutes across a slot", "redis_down", -10, 120),
    ("PostgreSQL down for 60 s across a slot", "postgres_down", -30, 60),
    ("Beat killed 10 s before a slot (JIT: restarted 15 s later)", "beat_down", -10, 15),
    ("Sentinel failover 10 s before a slot (2.5 s without a master)", "redis_down", -10, 2.5),
    ("A worker killed mid-send, 10 s after the slot", "worker_killed", 10, 0),
]


class NullTransport:
    """Takes every message at once: the delivery's database and Redis work, no network."""

    concurrency = 1

    def __init__(self) -> None:
        self.sent = 0

    def send(self, message: Message, halt_key: str | None = None) -> Receipt:
        self.sent += 1
        return Receipt("sent")


# --- the day --------------------------------------------------------------------------------


def jit_day(engine: Engine, client: redis.Redis, redis_url: str) -> tuple[Meter, list[Queued]]:
    sessions = session_factory(engine)
    queue = queue_on(create_jit_app(redis_url))
    runs = list(planner_runs(START, END, 0.0))
    queued: list[Queued] = []
    for at in (t for t in runs if t < START):  # lead-in: what yesterday's runs had queued
        queued += plan(sessions, client, queue, at)
    with Meter(engine, client) as meter:
        for at in (t for t in runs if t >= START):
            queued += plan(sessions, client, queue, at)
    return meter, queued


def our_syncs(sessions: Any, client: redis.Redis, settings: Settings, engine: Engine) -> Meter:
    with clock.frozen(START - timedelta(hours=1)):
        redbeat_sync.sync(sessions, client, settings)  # the entries exist before the day
    with Meter(engine, client) as meter:
        for hour in range(24):
            with clock.frozen(START + timedelta(hours=hour, seconds=3)):
                report = redbeat_sync.sync(sessions, client, settings)
            assert not (report.created or report.updated or report.deleted), report.to_dict()
    return meter


def our_reconciler(sessions: Any, client: redis.Redis, settings: Settings, engine: Engine) -> Meter:
    with Meter(engine, client) as meter:
        for minute in range(1440):
            now = START + timedelta(minutes=minute, seconds=7)
            with clock.frozen(now):
                report = reconcile(sessions, client, settings, now, lambda _s, _d: None)
            assert not report.queued, report.queued[:3]
    return meter


def delivery(
    engine: Engine, client: redis.Redis, settings: Settings, users: dict[Slot, int]
) -> tuple[Slot, int, Meter, Meter]:
    """One slot of about 5,000 users sent by each system: the JIT's read of its users, and our
    run (plan, batches, claims, marks) with a null transport. Ours runs on a ledger holding
    the slot's previous week, analyzed, so that the tables have statistics, as a live
    ledger's do."""
    slot = min(users, key=lambda s: abs(users[s] - 5000))
    day = (START + timedelta(days=1)).date()
    sessions = session_factory(engine)
    with engine.begin() as conn:  # a ledger left by an earlier run of this bench
        conn.execute(text("TRUNCATE delivery"))

    def send(local_date: date) -> tuple[int, int]:
        at = occurrence_on(slot.zone, slot.send_time, local_date)
        transport = NullTransport()
        with clock.frozen(at):
            summary = run_slot(
                sessions, transport, settings, slot.zone, slot.send_time, at, redis_client=client
            )
        return transport.sent, summary.sent

    for back in range(7, 0, -1):
        send(day - timedelta(days=back))
    with engine.connect() as conn:
        conn.execute(text("ANALYZE delivery, send_batch, send_run"))
        conn.commit()
    at = occurrence_on(slot.zone, slot.send_time, day)
    with Meter(engine, client) as jit, session_scope(sessions) as session:
        phones = session.scalars(
            select(User.phone).where(
                User.timezone == slot.zone,
                User.send_time == slot.send_time,
                User.sendable_at(at),
            )
        ).all()
    with Meter(engine, client) as ours:
        sent = send(day)
    assert sent == (len(phones), len(phones)), (len(phones), sent)
    return slot, len(phones), jit, ours


def tasks_per_day(settings: Settings, users: dict[Slot, int]) -> dict[str, int]:
    """Task messages our Beat and workers send in a day, from the app's own schedule."""
    app = create_app(settings)
    counts: dict[str, int] = {"slot runs": len(users)}
    counts["batches after the first"] = sum(
        max(0, math.ceil(n / settings.send_batch_size) - 1) for n in users.values()
    )
    for name, entry in app.conf.beat_schedule.items():
        schedule = entry["schedule"]
        if isinstance(schedule, crontab):
            counts[name] = (
                len(schedule.hour) * len(schedule.minute) * len(schedule.day_of_week) // 7
            )
        else:
            counts[name] = int(86400 // float(schedule))
    return counts


def day_part(engine: Engine, redis_url: str, database_url: str) -> None:
    client = connect(redis_url)
    settings = Settings(database_url=database_url, redis_url=redis_url, sync_interval_s=3600)
    sessions = session_factory(engine)
    with session_scope(sessions) as session:
        users = redbeat_sync.desired_slots(session, START).users
    print(f"{sum(users.values()):,} users in {len(users)} slots")

    jit, queued = jit_day(engine, client, redis_url)
    modelled = simulate(users, START, END, 0.0)
    same = {(q.slot, q.local_date, q.planned_at, q.eta) for q in queued if START <= q.eta < END}
    model = {(q.slot, q.local_date, q.planned_at, q.eta) for q in modelled.queued}
    print(
        f"JIT planner: {len(same)} tasks for the day's occurrences; the model queues the same "
        f"{len(model)}: {same == model}"
    )
    client.flushall()

    syncs = our_syncs(sessions, client, settings, engine)
    slots = sorted(users)
    t = time.perf_counter()
    n_runs = history(engine, slots, 90)
    print(
        f"send_run history: {n_runs:,} complete runs over 90 days ({time.perf_counter() - t:.0f} s)"
    )
    recon = our_reconciler(sessions, client, settings, engine)
    slot, n, jit_send, our_send = delivery(engine, client, settings, users)
    counts = tasks_per_day(settings, users)

    per_user = {
        k: v / n
        for k, v in (
            ("jit rows", jit_send.total_rows),
            ("our rows", our_send.total_rows),
            ("jit cmds", jit_send.commands),
            ("our cmds", our_send.commands),
        )
    }
    total_users = sum(users.values())
    print()
    print("| per day | JIT planner | ours |")
    print("|---|---|---|")
    print(
        f"| scheduling: database rows read | {jit.total_rows:,} (144 planner runs) | "
        f"{syncs.total_rows + recon.total_rows:,} (24 syncs {syncs.total_rows:,}: "
        f"{syncs.rows}; 1,440 reconciles {recon.total_rows:,}: {recon.rows}) |"
    )
    print(
        f"| scheduling: Redis commands (Beat's: --part beat) | {jit.commands + 144:,} (planner "
        f"{jit.commands:,} with its task sends, Beat's 144 sends) | syncs {syncs.commands:,}, "
        f"reconciles {recon.commands:,} |"
    )
    print(
        f"| delivery: rows read per user ({slot}, {n} users) | {per_user['jit rows']:.2f} | "
        f"{per_user['our rows']:.2f}: {our_send.rows} |"
    )
    print(
        f"| delivery: Redis commands for the slot's run | {jit_send.commands} | "
        f"{our_send.commands} |"
    )
    print(
        f"| delivery at {total_users:,} users: rows read | "
        f"{per_user['jit rows'] * total_users:,.0f} | "
        f"{per_user['our rows'] * total_users:,.0f} |"
    )
    print(
        f"| task messages | {modelled.planner_runs + len(modelled.queued):,} "
        f"({modelled.planner_runs} plan, {len(modelled.queued):,} sends) | "
        f"{sum(counts.values()):,} ({counts}) |"
    )
    waits = sorted(q.countdown_s for q in modelled.queued)
    print(
        f"| countdowns held in worker memory: peak / task-seconds | {modelled.held_peak} / "
        f"{modelled.held_total_s:,.0f} (countdown median {statistics.median(waits):.0f} s, "
        f"max {waits[-1]:.0f} s) | 0 / 0 |"
    )
    print(
        f"wall: JIT planner {jit.wall_s:.1f} s for the day; our syncs {syncs.wall_s:.1f} s, "
        f"reconciles {recon.wall_s:.1f} s; delivery JIT {jit_send.wall_s:.2f} s, ours "
        f"{our_send.wall_s:.2f} s"
    )
    print(machine_line(database_url, client))


# --- faults ---------------------------------------------------------------------------------


def faults_part(engine: Engine) -> None:
    sessions = session_factory(engine)
    with session_scope(sessions) as session:
        users = redbeat_sync.desired_slots(session, START).users
    kolkata_at = occurrence_on(KOLKATA.zone, KOLKATA.send_time, DAY)
    print(
        f"JIT planner under the faults of FAULTS.md ({sum(users.values()):,} users, "
        f"{len(users)} slots; Asia/Kolkata 06:30 = {kolkata_at:%H:%M} UTC, {users[KOLKATA]:,} "
        "users)"
    )
    print()
    print(
        "| fault | at the Kolkata slot, 20 Beat phases: users lost (slots) | duplicated | "
        "at 96 moments of the day: users lost, median / max | duplicated, median / max |"
    )
    print("|---|---|---|---|---|")
    rng = random.Random(96)
    moments = sorted(START + timedelta(seconds=rng.uniform(0, 86400)) for _ in range(96))
    for label, kind, offset_s, duration_s in FAULTS:
        near = [
            simulate(
                users,
                START,
                END,
                phase,
                Fault(kind, kolkata_at + timedelta(seconds=offset_s), duration_s),
            )
            for phase in PHASES_S
        ]
        anywhere = [simulate(users, START, END, 0.0, Fault(kind, at, duration_s)) for at in moments]
        print(
            f"| {label} | {span(near, 'lost_users', 'lost_slots')} | "
            f"{span(near, 'duplicated_users', 'duplicated_slots')} | "
            f"{median_max(anywhere, 'lost_users')} | {median_max(anywhere, 'duplicated_users')} |"
        )


def span(days: list[Any], users: str, slots: str) -> str:
    lo = min(days, key=lambda d: getattr(d, users))
    hi = max(days, key=lambda d: getattr(d, users))
    if getattr(lo, users) == getattr(hi, users):
        return f"{getattr(hi, users):,.0f} ({getattr(hi, slots)})"
    return (
        f"{getattr(lo, users):,.0f} ({getattr(lo, slots)}) to {getattr(hi, users):,.0f} "
        f"({getattr(hi, slots)})"
    )


def median_max(days: list[Any], attr: str) -> str:
    values = [getattr(d, attr) for d in days]
    return f"{statistics.median(values):,.0f} / {max(values):,.0f}"


# --- main -----------------------------------------------------------------------------------


def main() -> None:
    logging.getLogger("delivery").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("day", "beat", "faults", "all"), default="all")
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--reuse", action="store_true", help="Keep a seeded database as it is.")
    args = parser.parse_args()

    engine = seeded_engine(args.database_url, args.users, args.reuse)
    if args.part in ("faults", "all"):
        faults_part(engine)
    for part in ("day", "beat"):
        if args.part not in (part, "all"):
            continue
        workdir = Path(tempfile.mkdtemp(prefix="bench-redis-"))
        server = redis_server.start(workdir)
        try:
            if part == "day":
                day_part(engine, server.url, args.database_url)
            else:
                beat_part(engine, server.url, args.database_url)
        finally:
            server.stop()
            shutil.rmtree(workdir, ignore_errors=True)
    engine.dispose()


def busy_quarter(users: dict[Slot, int], at_least: int = 20) -> datetime:
    """The first quarter-hour at least 3 minutes away when `at_least` slots fire."""
    now = datetime.now(UTC)
    fires: Counter[datetime] = Counter()
    for slot in users:
        today = now.astimezone(ZoneInfo(slot.zone)).date()
        for day in (today - timedelta(days=1), today, today + timedelta(days=1)):
            at = occurrence_on(slot.zone, slot.send_time, day)
            if now + timedelta(minutes=3) <= at <= now + timedelta(hours=3):
                fires[at] += 1
    return min(at for at, n in fires.items() if n >= at_least)


def beat_part(engine: Engine, redis_url: str, database_url: str) -> None:
    from bench.jit_verify import beat_commands  # real processes; imported when needed

    settings = Settings(database_url=database_url, redis_url=redis_url, sync_interval_s=3600)
    with session_scope(session_factory(engine)) as session:
        users = redbeat_sync.desired_slots(session, START).users
    counts = tasks_per_day(settings, users)
    fires = sum(counts.values()) - counts["batches after the first"]  # those come from workers
    idle_per_s, per_fire = beat_commands(settings, busy_quarter(users))
    print(
        f"our Beat: {idle_per_s:.3f} commands/s between fires, {per_fire:.1f} per task sent; "
        f"{fires:,} tasks sent a day (slots and statics) -> "
        f"{idle_per_s * 86400 + per_fire * fires:,.0f} commands a day"
    )


if __name__ == "__main__":
    main()
