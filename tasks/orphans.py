"""The orphan sweep (`delivery.orphans`) in worker processes: a daemon thread in each, so it
runs every few seconds however busy the pool is (a task would wait in the queue behind a slot's
batches). One sweep per interval runs in the whole cluster: each process tries to take a short
Redis key first, and the one that gets it sweeps.

In a prefork worker the children sweep, not the main process: it forks new children all day
(`worker_max_tasks_per_child`), and a database connection must not cross a fork.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from celery import current_app
from celery.signals import worker_process_init, worker_ready
from redis import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core import clock
from core.names import BATCH_TASK, ORPHAN_SWEEP_KEY
from delivery.orphans import SWEEP_INTERVAL_S, sweep
from tasks import runtime

log = logging.getLogger(__name__)

_started_in: int | None = None  # the pid whose thread runs


def _queue(batch_id: int) -> None:
    current_app.send_task(BATCH_TASK, args=(batch_id,))


def sweep_once(
    client: redis.Redis, sessions: sessionmaker[Session], queue: Callable[[int], None]
) -> list[int]:
    """Sweep unless another process has this interval; the batches queued again."""
    if not client.set(ORPHAN_SWEEP_KEY, os.getpid(), nx=True, ex=int(SWEEP_INTERVAL_S)):
        return []
    return sweep(sessions, client, queue, clock.now())


def _loop() -> None:
    while True:
        try:
            sweep_once(runtime.redis_client(), runtime.sessions(), _queue)
        except (RedisError, SQLAlchemyError, OSError) as err:
            # Redis or the database is away: nothing can be judged dead meanwhile.
            log.warning("orphan sweep skipped: %s", err)
        except Exception:
            log.exception("orphan sweep failed")
        time.sleep(SWEEP_INTERVAL_S)


def _start(**_: Any) -> None:
    global _started_in
    if _started_in == os.getpid():
        return
    _started_in = os.getpid()
    threading.Thread(target=_loop, name="panchang-orphans", daemon=True).start()


def _start_unless_prefork(sender: Any = None, **_: Any) -> None:
    pool = getattr(getattr(sender, "controller", None), "pool", None)
    if type(pool).__module__ == "celery.concurrency.prefork":
        return  # its children sweep
    _start()


worker_process_init.connect(_start, weak=False)
worker_ready.connect(_start_unless_prefork, weak=False)
