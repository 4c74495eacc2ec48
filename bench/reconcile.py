"""Benchmark: the send reconciler's cost per minute on the 1M-user database.

Run: uv run python bench/reconcile.py [--users 1000000] [--days 90] [--database-url URL]

Uses the same database as bench/sync.py (1,000,000 users in 400 zones, 2,452 slots; seeded
unless `--reuse` finds it seeded), a private redis-server holding the 2,452 entries, and a
`send_run` history of one complete run per slot occurrence for `--days` days (the retention
people keep). It then calls `delivery.reconcile.reconcile` as Beat would, once "per minute",
at instants spread over a whole day, and reports per call: wall time, `send_run` rows read,
Redis commands, and proof from Postgres's own statistics that `user_detail` was never read.
A second pass deletes one day's runs (Beat was down all day) and times the calls that find
every due slot unserved and queue it.
"""

from __future__ import annotations

import argparse
import io
import logging
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_ROOT))

import redis  # noqa: E402
from sqlalchemy import Engine, text  # noqa: E402

import redbeat_sync  # noqa: E402
from bench.counters import redis_commands, rows_read  # noqa: E402
from bench.sync import DEFAULT_DB, machine_line, seeded_engine  # noqa: E402
from core import clock  # noqa: E402
from core.settings import Settings  # noqa: E402
from delivery.local_day import occurrence_on  # noqa: E402
from delivery.reconcile import reconcile  # noqa: E402
from embedded import redis_server  # noqa: E402
from models.db import session_factory  # noqa: E402
from scheduler.slots import Slot  # noqa: E402
from scheduler.store import connect  # noqa: E402

DAY = date(2026, 11, 21)  # the simulated day; history runs up to and including it
CALLS = 96  # one every 15 minutes of the day, each standing for that minute's call


def history(engine: Engine, slots: list[Slot], days: int) -> int:
    """One complete run per slot occurrence for the `days` local dates up to the day after DAY
    (COPY): east of UTC it is already the next local date during DAY's UTC hours."""
    buf = io.StringIO()
    rows = 0
    for n in range(days):
        local_date = DAY + timedelta(days=1) - timedelta(days=n)
        for slot in slots:
            at = occurrence_on(slot.zone, slot.send_time, local_date)
            done = at + timedelta(seconds=2)
            buf.write(
                f"{slot.zone},{slot.send_time},{local_date},beat,{at.isoformat()},"
                f"{done.isoformat()},{done.isoformat()},1,1,10,0,0,0,complete\n"
            )
            rows += 1
    buf.seek(0)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("TRUNCATE send_run RESTART IDENTITY CASCADE")
        cur.copy_expert(
            "COPY send_run (timezone, send_time, local_date, trigger, started_at, heartbeat_at,"
            " finished_at, batches_total, batches_done, sent, skipped, failed, held, outcome)"
            " FROM STDIN WITH (FORMAT csv)",
            buf,
        )
        raw.commit()
        raw.set_isolation_level(0)
        cur.execute("VACUUM (ANALYZE) send_run")
    finally:
        raw.close()
    return rows


def measure(
    sessions: Any, client: redis.Redis, settings: Settings, instants: list[datetime]
) -> dict[str, Any]:
    walls: list[float] = []
    checked: list[int] = []
    queued: list[int] = []
    redis_calls: list[int] = []
    rows: list[int] = []
    for now in instants:
        client.delete(*client.keys("panchang:queued:*") or ["-"])
        before = redis_commands(client)
        started = time.perf_counter()
        with clock.frozen(now):
            report = reconcile(sessions, client, settings, now, lambda _s, _d: None)
        walls.append((time.perf_counter() - started) * 1000)
        redis_calls.append(redis_commands(client) - before)
        checked.append(report.checked)
        queued.append(len(report.queued))
        rows.append(report.runs_read)
    return {"wall": walls, "checked": checked, "queued": queued, "redis": redis_calls, "rows": rows}


def line(label: str, values: list[float], unit: str = "ms") -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (
        f"| {label:<44} | {statistics.median(values):>8.1f} | {p95:>8.1f} | "
        f"{max(values):>8.1f} | {unit} |"
    )


def main() -> None:
    # Each queued slot is logged at WARNING; here that is thousands of lines of noise.
    logging.getLogger("delivery.reconcile").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--reuse", action="store_true", help="Keep a seeded database as it is.")
    args = parser.parse_args()

    engine = seeded_engine(args.database_url, args.users, args.reuse)
    workdir = Path(tempfile.mkdtemp(prefix="bench-redis-"))
    server = redis_server.start(workdir)
    try:
        run(args, engine, server.url)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        engine.dispose()


def run(args: argparse.Namespace, engine: Engine, redis_url: str) -> None:
    settings = Settings(database_url=args.database_url, redis_url=redis_url)
    sessions = session_factory(engine)
    client = connect(redis_url)
    with clock.frozen(datetime(2026, 11, 20, tzinfo=UTC)):
        report = redbeat_sync.sync(sessions, client, settings)
    slots = sorted(Slot.from_entry_name(n) for n in report.created)
    t = time.perf_counter()
    n_runs = history(engine, slots, args.days)
    print(f"{len(slots)} entries in Redis; send_run history: {n_runs:,} runs over {args.days} "
          f"days ({time.perf_counter() - t:.1f} s to write)")  # fmt: skip

    # The simulated day, in UTC: every 15 minutes, as the minute's reconcile would see it.
    start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
    instants = [start + timedelta(minutes=15 * k, seconds=7) for k in range(CALLS)]
    measure(sessions, client, settings, instants[:3])  # warm-up: pools, tz data, code paths
    reads_before = rows_read(engine).get("user_detail", 0)
    steady = measure(sessions, client, settings, instants)
    reads_after = rows_read(engine).get("user_detail", 0)

    # A bad day: no run at all for DAY and the next local date (Beat was down all day); every
    # call queues what is due.
    with engine.begin() as conn:
        deleted = conn.execute(text("DELETE FROM send_run WHERE local_date >= :d"), {"d": DAY})
    bad = measure(sessions, client, settings, instants)

    print()
    print("| per call (one call a minute)                 |   median |      p95 |      max |    |")
    print("|----------------------------------------------|----------|----------|----------|----|")
    print(line("steady day: wall time", steady["wall"]))
    print(line("steady day: occurrences within grace checked", steady["checked"], "n"))
    print(line("steady day: send_run rows read", steady["rows"], "n"))
    print(line("steady day: Redis commands", steady["redis"], "n"))
    print(line("steady day: slots queued", steady["queued"], "n"))
    print(line(f"Beat down ({deleted.rowcount} runs gone): wall time", bad["wall"]))
    print(line("Beat down all day: slots queued", bad["queued"], "n"))
    print()
    per_day_s = statistics.median(steady["wall"]) * 1440 / 1000
    print(f"per day at one call a minute: about {per_day_s:.0f} s of reconciler time")
    print(f"user_detail tuples read by {len(instants)} steady calls: {reads_after - reads_before}")
    print(machine_line(args.database_url, client))


if __name__ == "__main__":
    main()
