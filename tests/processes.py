"""Real `celery worker` and `celery beat` processes for tests, started with docker-compose.yml's
own commands, each in its own process group so a test can kill it as `docker kill` would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from core.settings import Settings
from tests.test_compose import service_command

ROOT = Path(__file__).resolve().parent.parent


class Processes:
    """Named child processes with their logs in `workdir`."""

    def __init__(self, settings: Settings, workdir: Path, **env: str) -> None:
        self.env = {**os.environ, **settings.to_env(), **env}
        self.workdir = workdir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, service: str, *extra: str, app: str = "tasks", **env: str) -> None:
        """Run docker-compose.yml's command for `service` as a real process here; `app`
        replaces `tasks` after `-A` (a test app wrapping it), `env` adds variables."""
        command = service_command(service)
        assert command[:3] == ["celery", "-A", "tasks"], command
        log = (self.workdir / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", app, *command[3:], *extra],
            env={**self.env, "PYTHONPATH": str(ROOT), **env},
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def wait_for_log(self, name: str, text: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while text not in self.log(name):
            assert self.procs[name].poll() is None, f"{name} exited:\n{self.log(name)}"
            assert time.monotonic() < deadline, f"{name}: no {text!r} in {timeout_s} s"
            time.sleep(0.2)

    def kill(self, name: str) -> None:
        """SIGKILL the process and every child it forked (a prefork worker's pool too)."""
        os.killpg(self.procs[name].pid, signal.SIGKILL)
        self.procs[name].wait(timeout=10)

    def stop(self) -> None:
        stop_all(self.procs.values(), timeout_s=20)


def stop_all(procs: Iterable[subprocess.Popen[bytes]], timeout_s: float = 10) -> None:
    """SIGTERM to each, then SIGKILL to the process group of any still running after
    `timeout_s` (each was started in its own session)."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def outbox(settings: Settings) -> list[dict[str, Any]]:
    if not settings.outbox_path.exists():
        return []
    return [json.loads(line) for line in settings.outbox_path.read_text().splitlines()]


def wait_until(check: Callable[[], bool], timeout_s: float, interval_s: float = 0.5) -> bool:
    """Poll `check` (real processes run on the real clock, so there is nothing to freeze)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval_s)
    return check()


def sqlite_stack(redis_url: str, tmp_path: Path) -> Iterator[tuple[Settings, Processes]]:
    """Settings on a migrated SQLite file and a Redis, and a Processes to start services with;
    stops whatever was started. For a fixture: `yield from sqlite_stack(redis_url, tmp_path)`."""
    from models.db import make_engine, upgrade

    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'panchang.db'}",
        redis_url=redis_url,
        outbox_path=tmp_path / "outbox.jsonl",
    )
    upgrade(make_engine(settings.database_url))
    procs = Processes(settings, tmp_path)
    yield settings, procs
    procs.stop()
