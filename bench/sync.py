"""Benchmark: the RedBeat reconcile over a million users (cold, no-op, one-user change).

Run: uv run python bench/sync.py [--users 1000000] [--database-url URL] [--reps 5]

Seeds a dedicated Postgres database (dropped and recreated) with active users spread over 400
IANA zones, skewed like real life, starts a private redis-server on a free port, and times
`redbeat_sync.sync`. The no-op run proves with MONITOR and INFO commandstats that the only Redis
writes are the sync's own lock (SET NX, then DEL in the release script).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_ROOT))

import redis  # noqa: E402
from sqlalchemy import Engine, create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

import redbeat_sync  # noqa: E402
from bench.machine import cpu_model  # noqa: E402
from core.names import SYNC_LOCK_KEY  # noqa: E402
from core.settings import Settings  # noqa: E402
from embedded import redis_server  # noqa: E402
from models.db import make_engine, session_factory, upgrade  # noqa: E402
from scheduler.slots import Slot  # noqa: E402
from scheduler.store import connect  # noqa: E402

DEFAULT_DB = "postgresql+psycopg2://postgres@127.0.0.1:5432/panchang_bench"
N_ZONES = 400
TOP_SHARE = 0.60  # Asia/Kolkata
# Most people keep the default; a few pick another morning time.
SEND_TIMES = {
    "06:30": 0.80, "06:00": 0.06, "07:00": 0.05, "05:00": 0.03, "07:30": 0.03,
    "05:30": 0.015, "08:00": 0.01, "04:45": 0.005,
}  # fmt: skip
POPULAR = [
    "Asia/Kolkata", "America/New_York", "Europe/London", "Asia/Dubai", "America/Chicago",
    "America/Los_Angeles", "Asia/Singapore", "Australia/Sydney", "America/Toronto",
    "Asia/Kathmandu", "Europe/Berlin", "Africa/Nairobi", "Asia/Kuala_Lumpur", "Pacific/Auckland",
    "Asia/Colombo", "Indian/Mauritius", "America/Port_of_Spain", "Pacific/Fiji",
]  # fmt: skip
WRITES = ("hset", "hsetnx", "hdel", "zadd", "zrem", "del", "unlink", "set", "expire", "hmset")
TARGETS_MS = {"cold": 2000.0, "noop": 1000.0, "one": 50.0}


# --- data -----------------------------------------------------------------------------------


def pick_zones() -> list[str]:
    """400 real zones: the popular ones first, then a deterministic sample of the rest."""
    rest = sorted(
        z
        for z in zoneinfo.available_timezones()
        if "/" in z
        and not z.startswith(("Etc/", "SystemV/", "US/", "posix/", "right/"))
        and z not in POPULAR
    )
    random.Random(7).shuffle(rest)
    return (POPULAR + rest)[:N_ZONES]


def zone_counts(users: int, zones: list[str]) -> list[int]:
    """Kolkata gets 60%; the rest follow Zipf (s=1.6) over ranks 2..400, at least 3 users each."""
    weights = [k**-1.6 for k in range(2, len(zones) + 1)]
    total = sum(weights)
    rest = users - round(users * TOP_SHARE)
    counts = [round(users * TOP_SHARE)] + [max(3, int(rest * w / total)) for w in weights]
    counts[0] += users - sum(counts)  # rounding remainder goes to the top zone
    return counts


def csv_rows(users: int, zones: list[str]) -> tuple[io.StringIO, dict[str, int]]:
    """The COPY payload (rows shuffled, as sign-ups arrive), and users per zone."""
    rng = random.Random(42)
    counts = zone_counts(users, zones)
    zone_of = [z for z, n in zip(zones, counts, strict=True) for _ in range(n)]
    rng.shuffle(zone_of)
    times = rng.choices(list(SEND_TIMES), weights=list(SEND_TIMES.values()), k=users)
    buf = io.StringIO()
    write = buf.write
    for i, (zone, send_time) in enumerate(zip(zone_of, times, strict=True)):
        # Valid Indian mobile numbers (70xxxxxxxx onwards); the sync never reads them.
        lat, lon = rng.uniform(-60, 60), rng.uniform(-180, 180)
        write(f"+91{7_000_000_000 + i},{zone},{lat:.4f},{lon:.4f},")
        write(f"{send_time},2026-01-01 00:00:00+00\n")
    buf.seek(0)
    return buf, dict(zip(zones, counts, strict=True))


def recreate_database(url: str) -> None:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def seeded_users(engine: Engine) -> int:
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM user_detail")).scalar() or 0)
    except Exception:
        return 0


def seeded_engine(url: str, users: int, reuse: bool) -> Engine:
    """An engine on the bench database holding `users` users: seeded afresh unless `reuse`
    finds it so, and migrated to the current schema either way."""
    engine = make_engine(url)
    if not (reuse and seeded_users(engine) == users):
        print(f"seeding {users:,} users into {make_url(url).database} ...")
        seed(url, users)
        engine.dispose()
        engine = make_engine(url)
    upgrade(engine)  # a database seeded by an older checkout
    return engine


def seed(url: str, users: int) -> dict[str, Any]:
    recreate_database(url)
    engine = make_engine(url)
    t0 = time.perf_counter()
    upgrade(engine)
    t_migrate = time.perf_counter() - t0
    zones = pick_zones()
    buf, per_zone = csv_rows(users, zones)
    t_csv = time.perf_counter() - t0 - t_migrate
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.copy_expert(
            "COPY user_detail (phone, timezone, latitude, longitude, send_time, created_at)"
            " FROM STDIN WITH (FORMAT csv)",
            buf,
        )
        raw.commit()
        t_copy = time.perf_counter() - t0 - t_migrate - t_csv
        # VACUUM as well as ANALYZE: it sets the visibility map, which lets the sync's GROUP BY
        # be an index-only scan, as it is on a table autovacuum has seen (see BENCHMARKS.md).
        raw.set_isolation_level(0)
        cur.execute("VACUUM (ANALYZE) user_detail")
        total = time.perf_counter() - t0
        cur.execute(
            "SELECT count(*), count(DISTINCT timezone),"
            " (SELECT count(*) FROM (SELECT DISTINCT timezone, send_time FROM user_detail) s)"
            " FROM user_detail"
        )
        row = cur.fetchone()
        assert row is not None
        n_users, n_zones, n_slots = row
    finally:
        raw.close()
    engine.dispose()
    top = sorted(per_zone.items(), key=lambda kv: -kv[1])
    return {
        "users": n_users, "zones": n_zones, "slots": n_slots, "total_s": total,
        "migrate_s": t_migrate, "csv_s": t_csv, "copy_s": t_copy,
        "vacuum_s": total - t_migrate - t_csv - t_copy, "top": top[:5], "tail_min": top[-1][1],
        "tail_under_50": sum(1 for _, n in top if n < 50),
    }  # fmt: skip


# --- redis ----------------------------------------------------------------------------------


def write_stats(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {c: int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in WRITES}


def writes_during(client: redis.Redis, action: Callable[[], None]) -> list[str]:
    """Write commands Redis ran while `action` ran, as 'command key' (MONITOR shows the commands
    inside Lua scripts too, so the lock release's DEL is seen)."""
    seen: list[str] = []
    ready = threading.Event()

    def listen() -> None:
        with client.monitor() as monitor:
            ready.set()
            for event in monitor.listen():
                words = event["command"].split()
                if words[:2] == ["ECHO", "end-of-bench"]:
                    return
                if words and words[0].lower() in WRITES:
                    seen.append(" ".join(words[:2]))

    thread = threading.Thread(target=listen)
    thread.start()
    ready.wait()
    action()
    client.echo("end-of-bench")
    thread.join(timeout=30)
    return seen


# --- the benchmark --------------------------------------------------------------------------


def machine_line(url: str, client: redis.Redis) -> str:
    cpu = cpu_model()
    with open("/proc/meminfo") as fh:
        mem_gb = int(fh.readline().split()[1]) / 1024**2
    engine = make_engine(url)
    with engine.connect() as conn:
        pg = conn.execute(text("SHOW server_version")).scalar()
    engine.dispose()
    redis_v = client.info("server")["redis_version"]
    return (
        f"machine: nproc={os.cpu_count()} cpu={cpu!r} ram={mem_gb:.1f}GiB "
        f"python={platform.python_version()} postgres={pg} redis={redis_v}"
    )


def memory_per_entry(client: redis.Redis, entries: int) -> str:
    """What one slot costs Redis: its entry hash, its member of the schedule sorted set, and
    its field in the users-per-slot gauge of /metrics (MEMORY USAGE, exact: samples=0)."""
    keys = list(client.scan_iter(match="redbeat:panchang:send:*", count=1000))
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
    hashes = sum(pipe.execute())
    schedule = client.memory_usage("redbeat::schedule", samples=0) or 0
    gauge = client.memory_usage("panchang:metrics:slot-users", samples=0) or 0
    return (
        f"memory: {hashes / entries:.0f} B an entry hash, {schedule / entries:.0f} B in the "
        f"schedule set, {gauge / entries:.0f} B in the users-per-slot gauge; "
        f"{(hashes + schedule + gauge) / 1024:.0f} KiB for {entries} entries"
    )


def summary(label: str, values_ms: list[float], target_ms: float) -> str:
    med, worst = statistics.median(values_ms), max(values_ms)
    verdict = "met" if worst < target_ms else ("missed (max)" if med < target_ms else "missed")
    return (
        f"| {label:<28} | {len(values_ms):>4} | {med:>9.1f} | {worst:>9.1f} | "
        f"< {target_ms:>6.0f} | {verdict:<12} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()

    print(f"seeding {args.users:,} users into {make_url(args.database_url).database} ...")
    s = seed(args.database_url, args.users)
    print(
        f"seed: {s['total_s']:.2f} s (migrate {s['migrate_s']:.2f}, csv {s['csv_s']:.2f}, "
        f"COPY {s['copy_s']:.2f}, VACUUM ANALYZE {s['vacuum_s']:.2f}); {s['users']:,} users, "
        f"{s['zones']} zones, {s['slots']} distinct (zone, send time)"
    )
    top = ", ".join(f"{z} {n / s['users']:.1%}" for z, n in s["top"])
    print(f"  top zones: {top}; {s['tail_under_50']} zones under 50 users, min {s['tail_min']}")

    workdir = Path(tempfile.mkdtemp(prefix="bench-redis-"))
    server = redis_server.start(workdir)
    try:
        run(args, server.url, s)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def run(args: argparse.Namespace, redis_url: str, seeded: dict[str, Any]) -> None:
    settings = Settings(database_url=args.database_url, redis_url=redis_url)
    engine = make_engine(args.database_url)
    sessions = session_factory(engine)
    client = connect(redis_url)
    sync = redbeat_sync.sync

    # Warm-up: connection pool, tz database, code paths (not counted).
    sync(sessions, client, settings, dry_run=True)

    cold: list[float] = []
    created = 0
    for _ in range(args.reps):
        client.flushall()
        t = time.perf_counter()
        report = sync(sessions, client, settings)
        cold.append((time.perf_counter() - t) * 1000)
        created = len(report.created)
        assert not (report.updated or report.deleted), report.to_dict()
    entries = len(list(client.scan_iter(match="redbeat:panchang:send:*", count=1000)))
    scheduled = client.zcard("redbeat::schedule")
    print(f"cold: created {created} entries per run; Redis holds {entries} keys, "
          f"{scheduled} in redbeat::schedule")  # fmt: skip
    assert created == entries == scheduled == seeded["slots"]
    print(memory_per_entry(client, entries))

    noop: list[float] = []
    stat_deltas: list[dict[str, int]] = []
    for _ in range(args.reps):
        before = write_stats(client)
        t = time.perf_counter()
        report = sync(sessions, client, settings)
        noop.append((time.perf_counter() - t) * 1000)
        after = write_stats(client)
        stat_deltas.append({c: after[c] - before[c] for c in WRITES if after[c] != before[c]})
        assert report.created == report.updated == report.deleted == [], report.to_dict()
        assert report.unchanged == seeded["slots"]
    snapshot = {k: client.dump(k) for k in client.scan_iter(match="redbeat:*", count=1000)}
    monitored: list[str] = []
    reports: list[redbeat_sync.SyncReport] = []
    monitored = writes_during(client, lambda: reports.append(sync(sessions, client, settings)))
    unchanged_state = snapshot == {
        k: client.dump(k) for k in client.scan_iter(match="redbeat:*", count=1000)
    }
    other = [w for w in monitored if w.split()[1:2] != [SYNC_LOCK_KEY]]
    print(f"no-op: commandstats write deltas per run: {stat_deltas}")
    print(f"no-op under MONITOR ({reports[0].duration_ms:.0f} ms, slowed by MONITOR): "
          f"writes {monitored}; writes to other keys: {len(other)}; redbeat:* keys byte-identical "
          f"after: {unchanged_state}")  # fmt: skip

    # One user moves to a send time nobody in their zone uses: only its two slots are synced.
    # Then back, which deletes the slot it created. Repeated with a Kolkata@06:30 user (the
    # largest slot) and a user from the smallest zone.
    one: dict[str, list[float]] = {}
    update_ms: list[float] = []
    did: dict[str, str] = {}
    with engine.connect() as conn:
        big = conn.execute(text(
            "SELECT id, timezone, send_time FROM user_detail "
            "WHERE timezone = 'Asia/Kolkata' AND send_time = '06:30' LIMIT 1"
        )).one()  # fmt: skip
        small = conn.execute(text(
            "SELECT id, timezone, send_time FROM user_detail WHERE timezone = ("
            "SELECT timezone FROM user_detail GROUP BY timezone ORDER BY count(*), timezone "
            "LIMIT 1) LIMIT 1"
        )).one()  # fmt: skip
    for rep in range(args.reps):
        for who, (uid, zone, old_time) in (("Kolkata@06:30", big), ("smallest zone", small)):
            new_time = f"09:{10 + rep:02d}"
            old, new = Slot(zone, old_time), Slot(zone, new_time)
            for to_time, kind in ((new_time, "move"), (old_time, "back")):
                t = time.perf_counter()
                with engine.begin() as conn:
                    conn.execute(
                        text("UPDATE user_detail SET send_time = :t WHERE id = :id"),
                        {"t": to_time, "id": uid},
                    )
                update_ms.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                report = sync(sessions, client, settings, only=[old, new])
                one.setdefault(f"{who} {kind}", []).append((time.perf_counter() - t) * 1000)
                did[f"{who} {kind}"] = (
                    f"created {len(report.created)}, updated {len(report.updated)}, "
                    f"deleted {len(report.deleted)}, unchanged {report.unchanged}"
                )
    for k, v in did.items():
        print(f"one-user {k}: {v}")
    print(f"one-user: the UPDATE itself took median {statistics.median(update_ms):.1f} ms "
          "(not included below)")  # fmt: skip

    print()
    print(f"| {'measurement':<28} | reps | median ms |    max ms | target   | verdict      |")
    print(f"|{'-' * 30}|------|-----------|-----------|----------|--------------|")
    print(summary(f"cold resync ({created} created)", cold, TARGETS_MS["cold"]))
    print(summary("no-op resync", noop, TARGETS_MS["noop"]))
    for k, values in one.items():
        print(summary(f"one user: {k}", values, TARGETS_MS["one"]))
    print(f"seed: {seeded['total_s']:.2f} s for {seeded['users']:,} users")
    print(machine_line(args.database_url, client))
    engine.dispose()


if __name__ == "__main__":
    main()
