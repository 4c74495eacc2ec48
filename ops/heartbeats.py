"""Heartbeat keys in Redis: written by Beat, workers and the sync, read by `panchang health`.

Each is one small JSON value with a TTL, so a container healthcheck reads a few keys instead
of asking workers over the broker (`celery inspect ping` costs seconds of CPU per probe,
celery#4079). No Celery import here: `panchang health --role ...` must stay cheap.

Times are the writer's wall clock (UTC epoch seconds); the reader compares them with its own,
so hosts need NTP (as the lock timeouts already assume). The TTL bounds a stale key anyway.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import redis

from core import clock
from core.names import (
    BEAT_HEARTBEAT_KEY,
    SYNC_HEARTBEAT_KEY,
    WORKER_HEARTBEAT_PREFIX,
    alive_key,
    worker_heartbeat_key,
)
from core.redis_conn import open_redis

log = logging.getLogger(__name__)

# A worker process refreshes its keys this often. Its health key lives 30 s, so a process that
# is gone (SIGKILL, OOM) disappears from `panchang health` within 30 s, and a few missed
# refreshes (a GC pause, a Redis blip) never make it look dead there. Its alive key lives 3
# refreshes: a running batch whose process has been silent that long, and still is a few
# seconds later, is sent again by another process (`delivery.orphans`).
WORKER_HEARTBEAT_INTERVAL_S = 2.0
WORKER_HEARTBEAT_TTL_S = 30
ALIVE_TTL_S = 6
# Beat ticks at least every `beat_max_loop_interval` (10 s); its key lives 6 loops so that a
# Beat that stopped is still visible, with its age, for a while after the health threshold
# (3 loops) calls it stale.
BEAT_HEARTBEAT_TTL_LOOPS = 6


@dataclass(frozen=True)
class Heartbeat:
    """Who wrote a heartbeat and when (UTC epoch s). `locked` is set for Beat only; `token` is
    the RedBeat lock token the Beat held, to tell whether the lock in Redis is still its own
    (never printed)."""

    host: str
    pid: int
    at: float
    locked: bool | None = None
    token: str | None = None

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None})

    @classmethod
    def from_json(cls, raw: str | bytes | None) -> Heartbeat | None:
        """None for a missing or unreadable value (a health check must not crash on it)."""
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return cls(
                host=str(data["host"]),
                pid=int(data["pid"]),
                at=float(data["at"]),
                locked=None if data.get("locked") is None else bool(data["locked"]),
                token=data.get("token"),
            )
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True)
class SyncRecord:
    """The last successful full sync."""

    at: float
    created: int
    updated: int
    deleted: int

    @classmethod
    def from_json(cls, raw: str | bytes | None) -> SyncRecord | None:
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return cls(float(data["at"]), int(data["created"]), int(data["updated"]),
                       int(data["deleted"]))  # fmt: skip
        except (ValueError, KeyError, TypeError):
            return None


def _now_s() -> float:
    return clock.now().timestamp()


def here(locked: bool | None = None, token: str | None = None) -> Heartbeat:
    return Heartbeat(socket.gethostname(), os.getpid(), _now_s(), locked, token)


# --- Beat --------------------------------------------------------------------------------------


def write_beat(client: redis.Redis, beat: Heartbeat, max_interval_s: float) -> None:
    client.set(
        BEAT_HEARTBEAT_KEY,
        beat.to_json(),
        ex=max(1, round(BEAT_HEARTBEAT_TTL_LOOPS * max_interval_s)),
    )


def read_beat(client: redis.Redis) -> Heartbeat | None:
    return Heartbeat.from_json(client.get(BEAT_HEARTBEAT_KEY))


# --- Workers -----------------------------------------------------------------------------------


def write_worker(client: redis.Redis, beat: Heartbeat, owner: str | None = None) -> None:
    """The process's health key and, with `owner`, its alive key, in one round trip."""
    with client.pipeline(transaction=False) as pipe:
        pipe.set(
            worker_heartbeat_key(beat.host, beat.pid), beat.to_json(), ex=WORKER_HEARTBEAT_TTL_S
        )
        if owner is not None:
            pipe.set(alive_key(owner), beat.pid, ex=ALIVE_TTL_S)
        pipe.execute()


def delete_worker(client: redis.Redis, host: str, pid: int) -> None:
    client.delete(worker_heartbeat_key(host, pid))


def read_workers(client: redis.Redis, host: str | None = None) -> list[Heartbeat]:
    """Every live worker process's heartbeat (of `host` alone when given), by SCAN."""
    pattern = WORKER_HEARTBEAT_PREFIX + (_glob_escape(host) + ":*" if host else "*")
    keys = sorted(client.scan_iter(match=pattern, count=1000))
    if not keys:
        return []
    found = [Heartbeat.from_json(raw) for raw in client.mget(keys)]
    return [beat for beat in found if beat is not None]


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


class WorkerHeartbeat:
    """A daemon thread that refreshes this process's worker key until the process ends.

    Its own Redis client, created in the thread: the process may have just forked, and a
    client (socket) must not be shared across a fork.
    """

    def __init__(self, redis_url: str, interval_s: float = WORKER_HEARTBEAT_INTERVAL_S) -> None:
        self.redis_url = redis_url
        self.interval_s = interval_s
        self.pid = os.getpid()
        self.host = socket.gethostname()
        # This process's liveness id: new for every process, so a pid reused after a restart
        # (small pids in a fresh container) never passes for the dead process.
        self.owner = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="panchang-heartbeat", daemon=True)

    def start(self) -> WorkerHeartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop refreshing and delete the key: a process that shuts down cleanly is gone at
        once, not a TTL later."""
        self._stop.set()
        self._thread.join(timeout=2)
        try:
            with self._client() as client:
                delete_worker(client, self.host, self.pid)
                client.delete(alive_key(self.owner))
        except redis.RedisError as err:
            log.debug("heartbeat: could not delete the worker key: %s", err)

    def _client(self) -> redis.Redis:
        return open_redis(
            self.redis_url, decode_responses=True, socket_connect_timeout=5, socket_timeout=5
        )

    def _run(self) -> None:
        client = self._client()
        while not self._stop.is_set():
            try:
                write_worker(client, Heartbeat(self.host, self.pid, _now_s()), self.owner)
            except redis.RedisError as err:  # the health check reports the missing key
                log.warning("heartbeat: could not refresh the worker key: %s", err)
            self._stop.wait(self.interval_s)
        client.close()


# --- Sync --------------------------------------------------------------------------------------


def record_sync(client: redis.Redis, created: int, updated: int, deleted: int) -> None:
    """Kept without a TTL: its age is the point, and a missing key means no sync ever ran."""
    value: dict[str, Any] = {
        "at": _now_s(), "created": created, "updated": updated, "deleted": deleted,
    }  # fmt: skip
    client.set(SYNC_HEARTBEAT_KEY, json.dumps(value))


def read_sync(client: redis.Redis) -> SyncRecord | None:
    return SyncRecord.from_json(client.get(SYNC_HEARTBEAT_KEY))
