"""Opening Redis: a plain URL, or the master that a set of Redis Sentinels name.

With `REDIS_SENTINELS=host:port,host:port` and `REDIS_SENTINEL_MASTER=name`, the settings hold
one URL of our own, `redis-sentinel://host:port,host:port/name/0`. Every Redis user here gets
its client from `open_redis` (our clients: locks, rate limiter, heartbeats, metrics, the sync)
or its configuration from `celery_redis_options` (Celery's broker, RedBeat). After a failover,
redis-py's Sentinel pool asks the sentinels again on the next connection error and finds the
new master; kombu and RedBeat do the same with their own Sentinel clients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
from redis.sentinel import Sentinel

from core.errors import ConfigError

SCHEME = "redis-sentinel://"


@dataclass(frozen=True)
class SentinelTarget:
    hosts: tuple[tuple[str, int], ...]
    master: str
    db: int = 0

    @property
    def url(self) -> str:
        hosts = ",".join(f"{host}:{port}" for host, port in self.hosts)
        return f"{SCHEME}{hosts}/{self.master}/{self.db}"


def parse_sentinels(raw: str, master: str | None) -> SentinelTarget:
    """REDIS_SENTINELS ('host:port,host:port') and REDIS_SENTINEL_MASTER, checked."""
    hosts = []
    for part in (p.strip() for p in raw.split(",")):
        host, _, port = part.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(
                f"invalid REDIS_SENTINELS {raw!r}: {part!r} is not host:port; write it like "
                "10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379"
            )
        hosts.append((host.strip("[]"), int(port)))
    if not master or not master.strip():
        raise ConfigError(
            "REDIS_SENTINELS is set but REDIS_SENTINEL_MASTER is not: set it to the name the "
            "sentinels monitor the master by (their `sentinel monitor NAME ...` line)"
        )
    return SentinelTarget(tuple(hosts), master.strip())


def sentinel_target(url: str) -> SentinelTarget | None:
    """The target of one of our `redis-sentinel://` URLs; None for any other URL."""
    if not url.startswith(SCHEME):
        return None
    hosts_part, master, db = url[len(SCHEME) :].split("/")
    hosts = tuple(
        (host, int(port)) for host, _, port in (h.rpartition(":") for h in hosts_part.split(","))
    )
    return SentinelTarget(hosts, master, int(db))


def open_redis(url: str, **options: Any) -> redis.Redis:
    """A client for `url` (redis://, rediss://, unix:// or our redis-sentinel://), with
    redis-py's `options` (decode_responses, timeouts...)."""
    target = sentinel_target(url)
    if target is None:
        return redis.Redis.from_url(url, **options)
    # The sentinels themselves get the same timeouts, so an unreachable one costs seconds.
    timeouts = {k: v for k, v in options.items() if k.startswith("socket_")}
    sentinel = Sentinel(list(target.hosts), sentinel_kwargs=timeouts, **timeouts)
    return sentinel.master_for(target.master, db=target.db, **options)


def celery_redis_options(url: str) -> dict[str, Any]:
    """Celery settings for the broker and RedBeat to reach Redis at `url`."""
    target = sentinel_target(url)
    if target is None:
        return {"broker_url": url, "broker_transport_options": {}, "redbeat_redis_url": url,
                "redbeat_redis_options": {}}  # fmt: skip
    sentinels = ";".join(f"sentinel://{host}:{port}/{target.db}" for host, port in target.hosts)
    return {
        # kombu's Sentinel transport: one URL per sentinel, the master's name as an option.
        "broker_url": sentinels,
        "broker_transport_options": {"master_name": target.master},
        # RedBeat reads the sentinels and the service name from its options.
        "redbeat_redis_url": f"{SCHEME}{target.hosts[0][0]}:{target.hosts[0][1]}",
        "redbeat_redis_options": {
            "sentinels": [list(h) for h in target.hosts],
            "service_name": target.master,
            "db": target.db,
            "socket_timeout": 5,
        },
    }
