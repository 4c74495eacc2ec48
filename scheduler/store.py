"""Reading and writing our RedBeat entries in Redis, in RedBeat's own key layout.

Keys: `<redbeat prefix><entry name>` is a hash with `definition` and `meta` (last_run_at);
`<redbeat prefix>:schedule` is the sorted set of keys scored by next due time (UTC epoch s).
Only keys under our entry prefix are ever read or written here.
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis

from core.errors import ServiceUnavailableError
from core.settings import Settings
from scheduler import codec
from scheduler.slots import Slot
from scheduler.zoned import ZonedCrontab

SEND_TASK = "send_for_timezone"


@dataclass(frozen=True)
class StoredEntry:
    """What Redis holds for one of our entries."""

    name: str
    definition: str | None  # raw JSON text, None when the hash has no definition
    last_run_at: datetime | None
    scheduled: bool  # present in the schedule sorted set (else Beat never looks at it)


def connect(url: str) -> redis.Redis:
    """A client for `url` that answers PING, or ServiceUnavailableError naming the URL."""
    client = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as err:
        raise ServiceUnavailableError(f"cannot reach Redis at {url}: {err}") from err
    return client


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
        self.schedule_key = settings.redbeat_key_prefix + ":schedule"

    def key(self, name: str) -> str:
        return self.settings.redbeat_key_prefix + name

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
                pipe.hmget(key, "definition", "meta")
            pipe.zmscore(self.schedule_key, keys)
            *hashes, scores = pipe.execute()
        found: dict[str, StoredEntry] = {}
        for name, (definition, meta), score in zip(wanted, hashes, scores, strict=True):
            if definition is None and meta is None:
                continue
            found[name] = StoredEntry(name, definition, _last_run_at(meta), score is not None)
        return found

    def write(
        self,
        create: Mapping[str, str],
        update: Mapping[str, str],
        delete: Iterable[str],
        current: Mapping[str, StoredEntry],
        now: datetime,
    ) -> None:
        """Apply a plan in one pipeline. `create`/`update` map names to definition JSON.

        A created entry gets last_run_at = now, so it first fires at its next scheduled time
        and not at once (an entry with no last_run_at is due immediately in RedBeat). An update
        rewrites only the definition and keeps last_run_at, as RedBeat's own save() does.
        """
        with self.client.pipeline(transaction=False) as pipe:
            for name, definition in create.items():
                self._put(pipe, name, definition, now)
            for name, definition in update.items():
                last = current[name].last_run_at if name in current else None
                self._put(pipe, name, definition, last or now)
            for name in delete:
                pipe.zrem(self.schedule_key, self.key(name))
                pipe.delete(self.key(name))
            pipe.execute()

    def _put(self, pipe: Any, name: str, definition: str, last_run_at: datetime) -> None:
        key = self.key(name)
        schedule = codec.decode(definition)["schedule"]
        pipe.hset(key, "definition", definition)
        meta = codec.encode({"last_run_at": last_run_at})
        # HSETNX: existing meta (last_run_at written by Beat, perhaps since our read) wins.
        pipe.hsetnx(key, "meta", meta)
        pipe.zadd(self.schedule_key, {key: epoch_s(schedule.next_run_after(last_run_at))})


def _last_run_at(meta: str | None) -> datetime | None:
    if not meta:
        return None
    try:
        value = codec.decode(meta).get("last_run_at")
    except ValueError:
        return None
    return value if isinstance(value, datetime) else None


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
