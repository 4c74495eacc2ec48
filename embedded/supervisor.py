"""Runs a Celery worker and Beat as child processes, like a small process manager, and echoes
each message sent.

The same two processes as in docker-compose.yml (`celery -A tasks worker`, `celery -A tasks
beat`), so the embedded mode exercises the production layout, not a shortcut. A child that
dies is restarted with backoff and the run goes on, as compose's `restart:` would. Ctrl-C or
SIGTERM stops Beat first (so nothing new is queued), then the worker (which finishes its
task), and returns 0; a second signal while stopping kills what is left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from core.settings import Settings

# Restart backoff: 1 s after the first death, doubling to at most 30 s; a child that stayed
# up for a minute is healthy again and starts from 1 s next time.
RESTART_FIRST_S = 1.0
RESTART_MAX_S = 30.0
HEALTHY_AFTER_S = 60.0
# How long each child gets to stop on its own before it is killed: a worker finishes the
# batch in hand (a few seconds at the tier rate; claims it cannot finish go back by lease).
STOP_TIMEOUT_S = 20.0
# Beat before the worker: a Beat stopped last could queue a task no worker will take.
START_ORDER = ("worker", "beat")
STOP_ORDER = ("beat", "worker")


def detached_child() -> None:
    """`preexec_fn` of every child of `panchang run`: its own session, so a Ctrl-C in the
    terminal reaches `panchang run` alone, which stops the children in order (all at once,
    Redis would go before the Beat that still writes to it); and on Linux, SIGTERM when
    `panchang run` itself dies, so a killed run leaves no orphans behind."""
    os.setsid()
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


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


@dataclass
class Child:
    """One supervised process and its restart state."""

    role: str
    command: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    backoff_s: float = RESTART_FIRST_S
    restart_at: float | None = None
    restarts: int = field(default=0)

    def start(self, echo: Callable[[str], None]) -> None:
        self.process = subprocess.Popen(self.command, env=self.env, preexec_fn=detached_child)
        self.started_at = time.monotonic()
        self.restart_at = None
        echo(f"{self.role} started (pid {self.process.pid})")

    def check(self, echo: Callable[[str], None]) -> None:
        """Restart the child when it has died and its backoff has passed."""
        now = time.monotonic()
        if self.process is not None and self.process.poll() is not None:
            code = self.process.returncode
            self.process = None
            if now - self.started_at >= HEALTHY_AFTER_S:
                self.backoff_s = RESTART_FIRST_S
            self.restart_at = now + self.backoff_s
            echo(f"{self.role} exited with code {code}; restarting in {self.backoff_s:.0f} s")
            self.backoff_s = min(self.backoff_s * 2, RESTART_MAX_S)
        if self.process is None and self.restart_at is not None and now >= self.restart_at:
            self.restarts += 1
            self.start(echo)

    def stop(self, timeout_s: float, forced: threading.Event) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        deadline = time.monotonic() + timeout_s
        while process.poll() is None:
            if forced.is_set() or time.monotonic() > deadline:
                process.kill()
                process.wait()
                return
            time.sleep(0.1)


@contextmanager
def stop_signals(stopping: threading.Event, forced: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set `stopping` (a second one sets `forced`) instead of raising, so a
    signal at any moment ends in an orderly stop and never in a traceback."""

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        if stopping.is_set():
            forced.set()
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(
    settings: Settings,
    echo: Callable[[str], None],
    concurrency: int = 2,
    stopping: threading.Event | None = None,
    forced: threading.Event | None = None,
) -> int:
    """Start worker and Beat with `settings` in their environment and keep them running until
    `stopping` is set (by Ctrl-C or SIGTERM, see `stop_signals`). Returns 0."""
    stopping = stopping or threading.Event()
    forced = forced or threading.Event()
    env = {**os.environ, **settings.to_env()}
    start_at = settings.outbox_path.stat().st_size if settings.outbox_path.exists() else 0
    children = {role: Child(role, celery_command(role, concurrency), env) for role in START_ORDER}
    tail_stop = threading.Event()
    tail = threading.Thread(
        target=follow_outbox, args=(settings.outbox_path, start_at, echo, tail_stop), daemon=True
    )
    tail.start()
    try:
        for child in children.values():
            child.start(echo)
        while not stopping.wait(0.5):
            for child in children.values():
                child.check(echo)
    finally:
        echo("stopping beat, then the worker")
        for role in STOP_ORDER:
            children[role].stop(STOP_TIMEOUT_S, forced)
        tail_stop.set()
        tail.join(timeout=2)
    return 0
