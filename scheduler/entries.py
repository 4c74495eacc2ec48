"""A readable view of our RedBeat entries: what fires when, for how many users.

An entry under our prefix that we cannot read as a zoned crontab is listed too, with its
problem instead of a next run: a stock RedBeat crontab there would fire at UTC, and an
operator looking at the schedule must see that, not a shorter list. The next sync rewrites
or deletes such an entry.
"""

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
    next_run_utc: datetime | None
    next_run_local: datetime | None
    last_run_at: datetime | None
    problem: str | None = None  # why the entry cannot run as a zoned slot; None when it can

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "key": self.key,
            "timezone": self.timezone,
            "send_time": self.send_time,
            "users": self.users,
            "next_run_utc": _iso(self.next_run_utc),
            "next_run_local": _iso(self.next_run_local),
            "last_run_at": _iso(self.last_run_at),
            "problem": self.problem,
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _problem(name: str, definition: str | None, prefix: str) -> tuple[Slot | None, Any, str | None]:
    """(slot, schedule, None) for a good entry, or what is wrong with it."""
    try:
        slot = Slot.from_entry_name(name, prefix)
    except ValidationError as err:
        return None, None, f"name is not <zone>@<HH:MM>: {err}"
    try:
        schedule = codec.decode(definition or "")["schedule"]
    except (ValueError, KeyError, TypeError) as err:
        return slot, None, f"definition unreadable ({type(err).__name__}: {err})"
    if not isinstance(schedule, ZonedCrontab):
        return slot, None, f"schedule is a {type(schedule).__name__}, not a zoned crontab"
    if schedule.zone != slot.zone:
        return slot, None, f"schedule zone {schedule.zone} differs from the name's {slot.zone}"
    return slot, schedule, None


def list_entries(
    client: redis.Redis, settings: Settings, users: Mapping[Slot, int], now: datetime
) -> list[EntryView]:
    """Every entry under our prefix, with its next run after `now` (aware) and its number of
    active users from `users` (the sync's `desired_slots(...).users`)."""
    store = EntryStore(client, settings)
    stored = store.read(store.names())
    views = []
    for name, entry in sorted(stored.items()):
        slot, schedule, problem = _problem(name, entry.definition, settings.entry_prefix)
        next_utc = None if schedule is None else schedule.next_run_after(now)
        views.append(
            EntryView(
                name=name,
                key=store.key(name),
                timezone=slot.zone if slot else "",
                send_time=slot.send_time if slot else "",
                users=users.get(slot, 0) if slot else 0,
                next_run_utc=next_utc,
                next_run_local=(
                    next_utc.astimezone(ZoneInfo(slot.zone)) if next_utc and slot else None
                ),
                last_run_at=entry.last_run_at,
                problem=problem,
            )
        )
    return views
