"""Runs a Celery worker and Beat as child processes and echoes each message sent.

The same two processes as in docker-compose.yml (`celery -A tasks worker`, `celery -A tasks
beat`), so the embedded mode exercises the production layout, not a shortcut.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from core.settings import Settings


class Stop(Exception):
    """Raised in the main thread when SIGTERM asks `panchang run` to stop."""


def celery_command(role: str, concurrency: int) -> list[str]:
    base = [sys.executable, "-m", "celery", "-A", "tasks", role, "--loglevel=INFO"]
    if role == "worker":
        base += [f"--concurrency={concurrency}", "--hostname=panchang@%h"]
    return base


def follow_outbox(
    path: Path, start_at: int, echo: Callable[[str], None], stop: threading.Event
) -> None:
    """Echo one line per message appended to the outbox after byte offset `start_at` (its size
    at start-up: the file may only appear with the first message, lines we must not skip)."""
    while not path.exists() and not stop.is_set():
        stop.wait(0.5)
    if stop.is_set():
        return
    with path.open() as handle:
        handle.seek(start_at)
        pending = ""
        while not stop.is_set():
            pending += handle.readline()
            if not pending.endswith("\n"):
                # Nothing new, or a line still being written: read the rest of it later.
                stop.wait(0.5)
                continue
            line, pending = pending, ""
            try:
                msg = json.loads(line)
                echo(
                    f"sent {msg['local_date']} {msg['send_time']} {msg['timezone']} "
                    f"to {msg['to']} at {msg['sent_at']}"
                )
            except (ValueError, KeyError):
                echo(f"outbox: {line.strip()}")


def run(settings: Settings, echo: Callable[[str], None], concurrency: int = 2) -> int:
    """Start worker and Beat with `settings` in their environment; block until Ctrl-C,
    SIGTERM, or a child exits. Returns the exit code for `panchang run`."""
    env = {**os.environ, **settings.to_env()}
    start_at = settings.outbox_path.stat().st_size if settings.outbox_path.exists() else 0
    children = {
        role: subprocess.Popen(celery_command(role, concurrency), env=env)
        for role in ("worker", "beat")
    }
    stop = threading.Event()
    tail = threading.Thread(
        target=follow_outbox, args=(settings.outbox_path, start_at, echo, stop), daemon=True
    )
    tail.start()

    def on_sigterm(_signum: int, _frame: FrameType | None) -> None:
        raise Stop

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        while True:
            for role, child in children.items():
                if child.poll() is not None:
                    echo(f"{role} exited with code {child.returncode}; stopping")
                    return 1
            time.sleep(0.5)
    except (KeyboardInterrupt, Stop):
        echo("stopping worker and beat")
        return 0
    finally:
        stop.set()
        for child in children.values():
            if child.poll() is None:
                child.terminate()
        for child in children.values():
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
        signal.signal(signal.SIGTERM, previous)
