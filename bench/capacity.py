"""Benchmark: what a queued task costs Redis (the capacity note in BENCHMARKS.md).

Run: uv run python bench/capacity.py [--tasks 1000]

Starts a private redis-server, queues `--tasks` batch tasks (`panchang.send_batch`, what a
slot's run queues per 500 users) and as many slot tasks (`send_for_timezone`, what Beat
sends), as the product's Celery app does, and reports Redis memory per queued message with
MEMORY USAGE of the queue. No worker runs, so the messages stay queued.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_ROOT))

import redis  # noqa: E402

from core.names import BATCH_TASK, CELERY_QUEUE_KEY, SEND_TASK  # noqa: E402
from core.settings import Settings  # noqa: E402
from embedded import redis_server  # noqa: E402
from tasks.app import create_app  # noqa: E402


def per_message(client: redis.Redis, send: object, tasks: int) -> tuple[float, float]:
    client.delete(CELERY_QUEUE_KEY)
    for n in range(tasks):
        send(n)  # type: ignore[operator]
    memory = client.memory_usage(CELERY_QUEUE_KEY, samples=0) or 0
    sizes = [len(m) for m in client.lrange(CELERY_QUEUE_KEY, 0, 99)]
    return memory / tasks, sum(sizes) / len(sizes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-capacity-"))
    server = redis_server.start(workdir)
    try:
        app = create_app(Settings(database_url="sqlite://", redis_url=server.url))
        client = redis.Redis.from_url(server.url)
        for label, send in (
            ("batch task", lambda n: app.send_task(BATCH_TASK, args=(100_000 + n,))),
            (
                "slot task",
                lambda n: app.send_task(
                    SEND_TASK, args=("America/Argentina/Buenos_Aires", "06:30")
                ),
            ),
        ):
            memory, body = per_message(client, send, args.tasks)
            print(f"{label}: {memory:.0f} B of Redis memory per queued message "
                  f"({body:.0f} B message body), {args.tasks} queued")  # fmt: skip
        print(f"redis {client.info('server')['redis_version']}")
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
