"""Worker heartbeats for `panchang health`: each worker process refreshes its own key in Redis
every few seconds from a daemon thread (see `ops.heartbeats`).

Started on `worker_process_init` (each prefork child, after the fork, so the thread and its
Redis client belong to that child) and on `worker_ready` (the main process, which is also the
only process with the solo and threads pools). A clean shutdown deletes the key at once.
"""

from __future__ import annotations

import os
from typing import Any

from celery.signals import (
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)

from ops.heartbeats import WorkerHeartbeat
from tasks import runtime

_running: WorkerHeartbeat | None = None


def _start(**_: Any) -> None:
    global _running
    from tasks.app import FALLBACK_REDIS_URL

    # A child forked after `worker_ready` inherits the parent's object, not its thread.
    if _running is not None and _running.pid == os.getpid():
        return
    _running = WorkerHeartbeat(runtime.settings().redis_url or FALLBACK_REDIS_URL).start()


def owner() -> str | None:
    """This process's liveness id, while its heartbeat runs (None outside a worker)."""
    if _running is not None and _running.pid == os.getpid():
        return _running.owner
    return None


def _stop(**_: Any) -> None:
    global _running
    if _running is not None and _running.pid == os.getpid():
        _running.stop()
    _running = None


worker_process_init.connect(_start, weak=False)
worker_ready.connect(_start, weak=False)
worker_process_shutdown.connect(_stop, weak=False)
worker_shutdown.connect(_stop, weak=False)
