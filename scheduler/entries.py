"""A readable view of our RedBeat entries: what fires when, for how many users."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import redis

from core.errors import ValidationError
from core.settings import Settings
from scheduler import codec
from scheduler.slots import Slot
from scheduler.store import EntryStore
from scheduler.zoned import ZonedCrontab


@dataclass(frozen=True)
class EntryView:
    name: str
    key: str
    timezone: str
    send_time: str
    users: int
    next_run_utc: datetime
    next_run_local: datetime
    last_run_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "key": self.key,
            "timezone": self.timezone,
            "send_time": self.send_time,
            "users": self.users,
            "next_run_utc": self.next_run_utc.isoformat(),
            "next_run_local": self.next_run_local.isoformat(),
            "last_run_at": self.last_run_at.isoformat() if self.last_run_at else None,
        }


def list_entries(
    client: redis.Redis, settings: Settings, users: Mapping[Slot, int], now: datetime
) -> list[EntryView]:
    """Every entry under our prefix, with its next run after `now` (aware) and its number of
    active users from `users` (the sync's `desired_slots(...).users`)."""
    store = EntryStore(client, settings)
    stored = store.read(store.names())
    views = []
    for name, entry in sorted(stored.items()):
        try:
            slot = Slot.from_entry_name(name, settings.entry_prefix)
            schedule = codec.decode(entry.definition or "")["schedule"]
        except (ValidationError, ValueError, KeyError, TypeError):
            continue  # unreadable: the next sync rewrites or deletes it
        if not isinstance(schedule, ZonedCrontab):
            continue
        next_utc = schedule.next_run_after(now)
        views.append(
            EntryView(
                name=name,
                key=store.key(name),
                timezone=slot.zone,
                send_time=slot.send_time,
                users=users.get(slot, 0),
                next_run_utc=next_utc,
                next_run_local=next_utc.astimezone(ZoneInfo(slot.zone)),
                last_run_at=entry.last_run_at,
            )
        )
    return views
