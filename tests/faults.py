"""Servers a fault test can really stop and start again: a redis-server with append-only
persistence (as docker-compose.yml runs it) and a private PostgreSQL cluster, each on its own
port, so stopping them disturbs no other test."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import redis

from embedded.redis_server import find_redis_server, free_port


class PersistentRedis:
    """redis-server on a fixed port with `appendonly yes`: a stop and a start keep the data."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> PersistentRedis:
        self.process = subprocess.Popen(
            [find_redis_server(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--appendonly", "yes", "--save", "", "--dir", str(self.dir),
             "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                return self
            except (redis.ConnectionError, redis.exceptions.BusyLoadingError):
                assert time.monotonic() < deadline, (self.dir / "redis.log").read_text()
                time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM: Redis writes its append-only file and exits, as `docker stop` does."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


def postgres_bin(name: str) -> str | None:
    """A PostgreSQL server binary (initdb, pg_ctl), from PATH or Debian's versioned folder."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    return next((str(v / name) for v in versions if (v / name).exists()), None)


class PrivatePostgres:
    """A PostgreSQL cluster of its own (initdb in a fresh folder, trust auth, loopback)."""

    def __init__(self) -> None:
        initdb, pg_ctl = postgres_bin("initdb"), postgres_bin("pg_ctl")
        if initdb is None or pg_ctl is None:
            raise FileNotFoundError("initdb and pg_ctl (PostgreSQL's server binaries)")
        self.pg_ctl = pg_ctl
        # Not under pytest's tmp_path: that sits in a root-only folder, and initdb refuses to
        # run as root, so the cluster belongs to the `postgres` account when we are root.
        self.home = Path(tempfile.mkdtemp(prefix="panchang-pg-"))
        self.data = self.home / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.home, "postgres")
        self._run(initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def _run(self, *args: str, check: bool = True) -> None:
        subprocess.run([*self._as, *args], check=check, capture_output=True, timeout=120)

    def start(self) -> PrivatePostgres:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.home}"
        self._run(self.pg_ctl, "-D", str(self.data), "-o", options, "-w", "-l",
                  str(self.home / "server.log"), "start")  # fmt: skip
        return self

    def stop(self, check: bool = True) -> None:
        """A fast shutdown: open connections are cut, as when the server goes down."""
        self._run(self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop", check=check)

    def close(self) -> None:
        self.stop(check=False)
        shutil.rmtree(self.home, ignore_errors=True)


def next_minute(at_least_s: float) -> datetime:
    """The first whole UTC minute at least `at_least_s` from now."""
    soon = datetime.now(UTC) + timedelta(seconds=at_least_s)
    return soon.replace(second=0, microsecond=0) + timedelta(minutes=1)


def local_hhmm(instant: datetime, zone: str) -> str:
    return instant.astimezone(ZoneInfo(zone)).strftime("%H:%M")


def sleep_until(instant: datetime) -> None:
    time.sleep(max(0.0, (instant - datetime.now(UTC)).total_seconds()))


class SentinelSet:
    """A master, a replica and three sentinels watching them, all redis-server processes on
    loopback: `kill_master` is a real failover."""

    MASTER = "panchang"

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.master_port, self.replica_port = free_port(), free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]

    @property
    def sentinels(self) -> str:
        """REDIS_SENTINELS for this set."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def _server(self, name: str, *args: str) -> None:
        self.procs[name] = subprocess.Popen(
            [find_redis_server(), *args, "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir),
             "--logfile", str(self.dir / f"{name}.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip

    def start(self) -> SentinelSet:
        self._server("master", "--port", str(self.master_port))
        self._server("replica", "--port", str(self.replica_port),
                     "--replicaof", "127.0.0.1", str(self.master_port))  # fmt: skip
        for n, port in enumerate(self.sentinel_ports):
            conf = self.dir / f"sentinel-{n}.conf"  # sentinels rewrite their file: one each
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\n"
                f"sentinel monitor {self.MASTER} 127.0.0.1 {self.master_port} 2\n"
                # Down after 1 s without an answer; a failover may take 5 s. Production keeps
                # the defaults (30 s and 3 min); the test keeps to seconds.
                f"sentinel down-after-milliseconds {self.MASTER} 1000\n"
                f"sentinel failover-timeout {self.MASTER} 5000\n"
            )
            self.procs[f"sentinel-{n}"] = subprocess.Popen(
                [find_redis_server(), str(conf), "--sentinel",
                 "--logfile", str(self.dir / f"sentinel-{n}.log")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        # Ready when every sentinel knows the replica and the two other sentinels.
        deadline = time.monotonic() + 30
        while not self._ready():
            assert time.monotonic() < deadline, self.log()
            time.sleep(0.2)
        return self

    def _ready(self) -> bool:
        try:
            for port in self.sentinel_ports:
                sentinel = redis.Redis(port=port, decode_responses=True, socket_timeout=1)
                master = sentinel.sentinel_master(self.MASTER)
                if int(master["num-other-sentinels"]) < 2 or int(master["num-slaves"]) < 1:
                    return False
            replica = redis.Redis(port=self.replica_port, decode_responses=True)
            return bool(replica.info("replication")["master_link_status"] == "up")
        except (redis.RedisError, KeyError):
            return False

    def master_address(self) -> tuple[str, int]:
        sentinel = redis.Redis(port=self.sentinel_ports[0], decode_responses=True)
        host, port = sentinel.sentinel_get_master_addr_by_name(self.MASTER)
        return str(host), int(port)

    def kill_master(self) -> None:
        self.procs["master"].kill()
        self.procs["master"].wait(timeout=10)

    def log(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.dir.glob("*.log")
        )

    def stop(self) -> None:
        from tests.processes import stop_all

        stop_all(self.procs.values())
