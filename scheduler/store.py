"""Reading and writing our RedBeat entries in Redis, in RedBeat's own key layout.

Keys (`core.names`): `<redbeat prefix><entry name>` is a hash with `definition` and `meta`
(`last_run_at`, and `total_run_count` once Beat has fired it), and our own `created` (UTC epoch
seconds when the sync created it; RedBeat reads only the first two fields and never rewrites
the hash whole); `<redbeat prefix>:schedule` is
the sorted set of keys scored by next due time (UTC epoch s). Only keys under our entry prefix
are ever read or written here.
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from core.errors import LockLostError, ServiceUnavailableError
from core.names import SEND_TASK, redbeat_entry_key, redbeat_schedule_key
from core.redis_conn import open_redis
from core.settings import Settings, redact
from scheduler import codec
from scheduler.slots import Slot
from scheduler.zoned import ZonedCrontab


@dataclass(frozen=True)
class StoredEntry:
    """What Redis holds for one of our entries."""

    name: str
    definition: str | None  # raw JSON text, None when the hash has no definition
    last_run_at: datetime | None
    scheduled: bool  # present in the schedule sorted set (else Beat never looks at it)
    # Beat has fired it at least once. The sync writes a new entry's last_run_at as its
    # creation time (so it is not due at once), which is not a run.
    fired: bool = False
    # When the sync created it; None for entries written before the field existed.
    created_at: datetime | None = None


def connect(url: str, source: str = "REDIS_URL") -> redis.Redis:
    """A client for `url` that answers PING, or ServiceUnavailableError naming the setting."""
    client = open_redis(url, decode_responses=True, socket_connect_timeout=5, socket_timeout=30)
    try:
        client.ping()
    except redis.RedisError as err:
        raise explain_redis_error(err, url, source) from err
    return client


def explain_redis_error(err: redis.RedisError, url: str, source: str) -> ServiceUnavailableError:
    """One line for a Redis failure, naming where the URL came from."""
    shown = redact(url) or "(unknown)"
    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
    if isinstance(err, (redis.ConnectionError, redis.TimeoutError)):
        return ServiceUnavailableError(
            f"cannot reach Redis at {shown} ({source}): {first}; start Redis there or point "
            "REDIS_URL at one that runs"
        )
    return ServiceUnavailableError(f"Redis error at {shown} ({source}): {first}")


def definition_for(slot: Slot, settings: Settings) -> str:
    """The definition JSON our entry for `slot` must have, byte for byte."""
    return codec.encode(
        {
            "name": slot.entry_name(settings.entry_prefix),
            "task": SEND_TASK,
            "args": [slot.zone, slot.send_time],
            "kwargs": {},
            "options": {},
            "schedule": ZonedCrontab.daily(slot.zone, slot.send_time),
            "enabled": True,
        }
    )


def same_definition(a: str | None, b: str | None) -> bool:
    """Equal as JSON values (key order and spacing do not matter)."""
    if a is None or b is None:
        return a is b
    try:
        return bool(json.loads(a) == json.loads(b))
    except ValueError:
        return False


def epoch_s(moment: datetime) -> int:
    """RedBeat's score for an aware instant: whole UTC seconds since the epoch."""
    return calendar.timegm(moment.utctimetuple())


class EntryStore:
    """Our entries in one Redis, laid out exactly as RedBeat reads them."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.schedule_key = redbeat_schedule_key(settings.redbeat_key_prefix)

    def key(self, name: str) -> str:
        return redbeat_entry_key(name, self.settings.redbeat_key_prefix)

    def names(self) -> list[str]:
        """Names of all entries under our prefix (SCAN, so Redis never blocks on KEYS)."""
        key_prefix = self.key(self.settings.entry_prefix)
        pattern = _glob_escape(key_prefix) + "*"
        cut = len(self.settings.redbeat_key_prefix)
        return sorted(k[cut:] for k in self.client.scan_iter(match=pattern, count=1000))

    def read(self, names: Iterable[str]) -> dict[str, StoredEntry]:
        """The stored state of `names` (missing ones are left out), in one round trip."""
        wanted = list(names)
        if not wanted:
            return {}
        keys = [self.key(n) for n in wanted]
        with self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hmget(key, "definition", "meta", "created")
            pipe.zmscore(self.schedule_key, keys)
            *hashes, scores = pipe.execute()
        found: dict[str, StoredEntry] = {}
        for name, (definition, meta, created), score in zip(wanted, hashes, scores, strict=True):
            if definition is None and meta is None:
                continue
            last_run_at, fired = _meta(meta)
            found[name] = StoredEntry(
                name, definition, last_run_at, score is not None, fired, _created(created)
            )
        return found

    def write(
        self,
        create: Mapping[str, str],
        update: Mapping[str, str],
        delete: Iterable[str],
        current: Mapping[str, StoredEntry],
        now: datetime,
        fence: tuple[str, str] | None = None,
    ) -> None:
        """Apply a plan in one pipeline. `create`/`update` map names to definition JSON.

        A created entry gets last_run_at = now, so it first fires at its next scheduled time
        and not at once (an entry with no last_run_at is due immediately in RedBeat). An update
        rewrites only the definition and keeps last_run_at, as RedBeat's own save() does.

        With `fence` (lock key, token), the writes go in one MULTI/EXEC under WATCH of the
        lock, and only while the lock still holds that token: a sync that outlived its lock
        raises LockLostError and writes nothing, instead of applying a plan a newer sync has
        overtaken.
        """
        if fence is None:
            with self.client.pipeline(transaction=False) as pipe:
                self._queue(pipe, create, update, delete, current, now)
                pipe.execute()
            return
        lock_key, token = fence
        with self.client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(lock_key)
                if pipe.get(lock_key) != token:
                    raise LockLostError(
                        f"sync lost its lock {lock_key} before writing (it took longer than the "
                        "lock timeout); nothing written, the next sync applies the changes"
                    )
                pipe.multi()
                self._queue(pipe, create, update, delete, current, now)
                pipe.execute()
            except redis.WatchError as err:
                raise LockLostError(
                    f"sync lock {lock_key} changed hands while writing; nothing written"
                ) from err

    def _queue(
        self,
        pipe: Any,
        create: Mapping[str, str],
        update: Mapping[str, str],
        delete: Iterable[str],
        current: Mapping[str, StoredEntry],
        now: datetime,
    ) -> None:
        for name, definition in create.items():
            self._put(pipe, name, definition, now)
            pipe.hset(self.key(name), "created", str(epoch_s(now)))
        for name, definition in update.items():
            last = current[name].last_run_at if name in current else None
            self._put(pipe, name, definition, last or now)
        for name in delete:
            pipe.zrem(self.schedule_key, self.key(name))
            pipe.delete(self.key(name))

    def _put(self, pipe: Any, name: str, definition: str, last_run_at: datetime) -> None:
        key = self.key(name)
        schedule = codec.decode(definition)["schedule"]
        pipe.hset(key, "definition", definition)
        meta = codec.encode({"last_run_at": last_run_at, "total_run_count": 0})
        # HSETNX: existing meta (last_run_at written by Beat, perhaps since our read) wins.
        pipe.hsetnx(key, "meta", meta)
        pipe.zadd(self.schedule_key, {key: epoch_s(schedule.next_run_after(last_run_at))})


def _meta(meta: str | None) -> tuple[datetime | None, bool]:
    """(last_run_at, fired) from a meta JSON; Beat writes total_run_count when it fires."""
    if not meta:
        return None, False
    try:
        value = codec.decode(meta)
    except ValueError:
        return None, False
    last = value.get("last_run_at")
    fired = bool(value.get("total_run_count"))
    return (last if isinstance(last, datetime) else None), fired


def _created(raw: str | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(raw), UTC) if raw else None
    except ValueError:
        return None


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
