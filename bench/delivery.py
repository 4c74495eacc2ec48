"""Benchmark: one 100,000-user slot through WhatsApp at the 1,000 messages/s tier.

Run: uv run python bench/delivery.py [--users 100000] [--latency-ms 50] [--workers 2]

Seeds a dedicated Postgres database with `--users` users in one slot (Asia/Kolkata at the
current minute, spread over 500 real-looking places), starts a private redis-server, the fake
Cloud API of the tests (its own process, every answer delayed `--latency-ms`), and
`--workers` worker processes with docker-compose.yml's worker command, each a single process
(`--concurrency=1`) sending `--concurrency` requests at a time in batches of `--batch-size`
(both default to the product's defaults). Then it fires the slot as Beat would, twice:

(a) WHATSAPP_RATE_PER_S=1000: the sustained rate the server saw (the limiter, not our code,
    should be the bottleneck: at least 950/s);
(b) the limit lifted: the ceiling of this machine.

For each it reports the rate at the server (whole run, sustained over the middle 80% of the
requests, and per steady second), the largest count
in any one-second window, each user accepted exactly once, the workers' peak RSS, and CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_ROOT))

from sqlalchemy import text  # noqa: E402

from bench.sync import machine_line, recreate_database  # noqa: E402
from core.names import SEND_TASK  # noqa: E402
from core.settings import Settings, WhatsAppSettings  # noqa: E402
from embedded import redis_server  # noqa: E402
from models.db import make_engine, upgrade  # noqa: E402
from scheduler.store import connect  # noqa: E402
from tasks.app import create_app  # noqa: E402
from tests.fake_cloud_api import FakeCloudApi  # noqa: E402
from tests.processes import Processes  # noqa: E402

DEFAULT_DB = "postgresql+psycopg2://postgres@127.0.0.1:5432/panchang_bench_delivery"
ZONE = "Asia/Kolkata"
PLACES = 500
TOKEN = "bench-token"


def seed(url: str, users: int, send_time: str) -> None:
    recreate_database(url)
    engine = make_engine(url)
    upgrade(engine)
    rng = random.Random(5)
    places = [(rng.uniform(8, 32), rng.uniform(68, 92)) for _ in range(PLACES)]
    buf = io.StringIO()
    for i in range(users):
        lat, lon = places[i % PLACES]
        buf.write(f"+91{7_000_000_000 + i},{ZONE},{lat:.4f},{lon:.4f},{send_time},"
                  "2026-01-01 00:00:00+00\n")  # fmt: skip
    buf.seek(0)
    raw = engine.raw_connection()
    try:
        raw.cursor().copy_expert(
            "COPY user_detail (phone, timezone, latitude, longitude, send_time, created_at)"
            " FROM STDIN WITH (FORMAT csv)",
            buf,
        )
        raw.commit()
        raw.set_isolation_level(0)
        raw.cursor().execute("VACUUM (ANALYZE) user_detail")
    finally:
        raw.close()
    engine.dispose()


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree(pid: int) -> list[int]:
    """`pid` and its children (a prefork worker and its pool)."""
    found = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return found
    for child in children:
        found += tree(int(child))
    return found


def cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def run_case(
    label: str, settings: Settings, api: FakeCloudApi, users: int, workers: int, workdir: Path
) -> dict[str, Any]:
    engine = make_engine(settings.database_url)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE delivery, send_batch, send_run RESTART IDENTITY CASCADE"))
    api.reset()
    client = connect(settings.require_redis_url())
    client.flushdb()
    procs = Processes(settings, workdir)
    names = [f"{label}-worker-{n}" for n in range(workers)]
    for name in names:
        procs.start(name, "worker", "--concurrency=1", "--without-gossip", "--without-mingle")
    for name in names:
        procs.wait_for_log(name, " ready.", timeout_s=60)
    pids = [procs.procs[name].pid for name in names]
    peak: dict[int, int] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for root in pids:
                for pid in tree(root):
                    peak[pid] = max(peak.get(pid, 0), rss_kib(pid))
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cpu_before = {pid: cpu_s(pid) for root in pids for pid in tree(root)}
    send_time = datetime.now(UTC).astimezone(ZoneInfo(ZONE)).strftime("%H:%M")
    with engine.begin() as conn:  # the slot is the current minute, as when Beat fires it
        conn.execute(text("UPDATE user_detail SET send_time = :t"), {"t": send_time})
    started = time.time()
    create_app(settings).send_task(SEND_TASK, args=(ZONE, send_time))
    outcome = None
    while time.time() - started < 1800:
        with engine.connect() as conn:
            outcome = conn.execute(text("SELECT outcome FROM send_run LIMIT 1")).scalar()
        if outcome:
            break
        time.sleep(1)
    finished = time.time()
    cpu_after = {pid: cpu_s(pid) for root in pids for pid in tree(root)}
    stop.set()
    sampler.join()
    procs.stop()
    requests = api.requests()
    accepted = Counter(r["recipient"] for r in requests if r["status"] == 200)
    stamps = sorted(r["time"] for r in requests)
    per_second = Counter(int(t) for t in stamps)
    # Steady seconds: all but the first two (ramp-up) and the last two (the tail).
    seconds = range(int(stamps[0]) + 2, int(stamps[-1]) - 1)
    steady = [per_second[s] for s in seconds]
    # Sustained: the middle 80% of the requests over the time they took (no ramp-up, no tail).
    lo, hi = stamps[len(stamps) // 10], stamps[9 * len(stamps) // 10]
    sustained = 0.8 * len(stamps) / (hi - lo)
    dips = [(s - int(stamps[0]), per_second[s]) for s in seconds if per_second[s] < 900]
    with engine.connect() as conn:
        statuses: dict[str, int] = dict(
            conn.execute(text("SELECT status, count(*) FROM delivery GROUP BY status")).all()
        )
    engine.dispose()
    return {
        "label": label,
        "outcome": outcome,
        "wall_s": finished - started,
        "requests": len(requests),
        "accepted_users": len(accepted),
        "accepted_more_than_once": sum(1 for n in accepted.values() if n > 1),
        "ledger": statuses,
        "rate_whole": len(requests) / (stamps[-1] - stamps[0]),
        "rate_sustained": sustained,
        "dips": dips,
        "rate_steady_median": statistics.median(steady) if steady else 0,
        "rate_steady_min": min(steady) if steady else 0,
        "max_in_any_1s": api.stats()["max_in_any_1s_window"],
        "peak_rss_mib": {pid: round(kib / 1024, 1) for pid, kib in peak.items()},
        "worker_cpu_s": round(
            sum(cpu_after.get(p, 0) - cpu_before.get(p, 0) for p in cpu_after), 1
        ),
        "server_cpu_s": None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--workers", type=int, default=2)
    defaults = {f.name: f.default for f in dataclasses.fields(Settings)}
    parser.add_argument(
        "--concurrency", type=int, default=defaults["send_concurrency"],
        help="sends in flight per worker process (PANCHANG_SEND_CONCURRENCY)",
    )  # fmt: skip
    parser.add_argument(
        "--batch-size", type=int, default=defaults["send_batch_size"],
        help="users per batch task (PANCHANG_SEND_BATCH_SIZE)",
    )  # fmt: skip
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--cases", default="tier,lifted")
    args = parser.parse_args()

    send_time = datetime.now(UTC).astimezone(ZoneInfo(ZONE)).strftime("%H:%M")
    t0 = time.time()
    seed(args.database_url, args.users, send_time)
    print(f"seeded {args.users:,} users in {ZONE} over {PLACES} places in {time.time() - t0:.1f} s")
    workdir = Path(tempfile.mkdtemp(prefix="bench-delivery-"))
    server = redis_server.start(workdir / "redis")
    api = FakeCloudApi().start(token=TOKEN, latency_ms=args.latency_ms)
    try:
        results = []
        for case in args.cases.split(","):
            rate = 1000.0 if case == "tier" else 1_000_000.0
            account = WhatsAppSettings(
                api_url=api.api_url, token=TOKEN, phone_number_id="106540352242922",
                rate_per_s=rate,
            )  # fmt: skip
            settings = Settings(
                database_url=args.database_url, redis_url=server.url, transport="whatsapp",
                whatsapp=account, send_concurrency=args.concurrency,
                send_batch_size=args.batch_size,
                outbox_path=workdir / "outbox.jsonl",
            )  # fmt: skip
            server_cpu = cpu_s(api.pid or 0)
            result = run_case(case, settings, api, args.users, args.workers, workdir)
            result["server_cpu_s"] = round(cpu_s(api.pid or 0) - server_cpu, 1)
            results.append(result)
            print(result)
        print()
        print(
            "| case | outcome | wall s | requests | users accepted | accepted twice "
            "| rate, whole run | sustained (middle 80%) | steady median / min | max in any 1 s "
            "| worker peak RSS MiB | worker CPU s | fake API CPU s |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in results:
            rss = max(r["peak_rss_mib"].values()) if r["peak_rss_mib"] else 0
            print(
                f"| {r['label']} | {r['outcome']} | {r['wall_s']:.1f} | {r['requests']:,} "
                f"| {r['accepted_users']:,} | {r['accepted_more_than_once']} "
                f"| {r['rate_whole']:.0f}/s | {r['rate_sustained']:.0f}/s "
                f"| {r['rate_steady_median']:.0f} / "
                f"{r['rate_steady_min']:.0f} | {r['max_in_any_1s']} | {rss} "
                f"| {r['worker_cpu_s']} | {r['server_cpu_s']} |"
            )
        client = connect(server.url)
        print(machine_line(args.database_url, client))
    finally:
        api.stop()
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
