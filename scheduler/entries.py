"""A readable view of the schedule: what fires when, for how many users, and what is wrong.

Every entry under our prefix is listed, and so is every slot that has active users but no
entry, so the listing can be trusted for monitoring. `status` says which:

- `ok`: a zoned entry with active users;
- `unused`: a zoned entry no active user needs (the next sync deletes it);
- `broken`: an entry that cannot run as a zoned slot (`problem` says why; a stock RedBeat
  crontab there would fire at UTC); our Beat skips it and the next sync rewrites or deletes it;
- `missing`: active users, no entry (the next sync creates it).
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
from scheduler.entry_check import problem_with
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
    # When Beat last fired it; None when it never has (or the entry is missing).
    last_run_at: datetime | None
    status: str
    problem: str | None = None  # why the entry cannot run as a zoned slot; None when it can

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "key": self.key,
            "timezone": self.timezone,
            "send_time": self.send_time,
            "users": self.users,
            "status": self.status,
            "next_run_utc": _iso(self.next_run_utc),
            "next_run_local": _iso(self.next_run_local),
            "last_run_at": _iso(self.last_run_at),
            "problem": self.problem,
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _decode(definition: str | None) -> tuple[Any, str | None]:
    try:
        return codec.decode(definition or ""), None
    except (ValueError, KeyError, TypeError) as err:
        return None, f"definition unreadable ({type(err).__name__}: {err})"


def list_entries(
    client: redis.Redis, settings: Settings, users: Mapping[Slot, int], now: datetime
) -> list[EntryView]:
    """Every entry under our prefix and every slot of `users` without one, by name.

    `users` is the sync's `desired_slots(...).users`; next runs are the first after `now`.
    """
    store = EntryStore(client, settings)
    prefix = settings.entry_prefix
    stored = store.read(store.names())
    views = []
    for name, entry in stored.items():
        definition, problem = _decode(entry.definition)
        problem = problem or problem_with(name, definition, prefix)
        try:
            slot: Slot | None = Slot.from_entry_name(name, prefix)
        except ValidationError:
            slot = None
        count = users.get(slot, 0) if slot else 0
        next_utc = None
        if problem is None and slot is not None:
            next_utc = ZonedCrontab.daily(*slot).next_run_after(now)
        status = "broken" if problem else ("ok" if count else "unused")
        views.append(
            EntryView(
                name=name,
                key=store.key(name),
                timezone=slot.zone if slot else "",
                send_time=slot.send_time if slot else "",
                users=count,
                next_run_utc=next_utc,
                next_run_local=next_utc.astimezone(ZoneInfo(slot.zone))
                if next_utc and slot
                else None,
                last_run_at=entry.last_run_at if entry.fired else None,
                status=status,
                problem=problem,
            )
        )
    for slot, count in users.items():
        name = slot.entry_name(prefix)
        if name not in stored:
            views.append(
                EntryView(
                    name,
                    store.key(name),
                    slot.zone,
                    slot.send_time,
                    count,
                    None,
                    None,
                    None,
                    "missing",
                )
            )
    return sorted(views, key=lambda view: view.name)


# --- Static entries (`panchang entries --all`) -----------------------------------------------


@dataclass(frozen=True)
class StaticView:
    """A static entry from `beat_schedule` (sync, reconcile, maintenance), as Redis holds it.

    `status`: `ok` (stored by Beat); `pending` (in the app's beat_schedule, not yet stored: no
    Beat has started since it was added); `stale` (stored as a static but gone from the
    beat_schedule; Beat deletes it when it next starts).
    """

    name: str
    key: str
    task: str | None
    schedule: str
    next_run_utc: datetime | None
    last_run_at: datetime | None
    status: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "static",
            "name": self.name,
            "key": self.key,
            "task": self.task,
            "schedule": self.schedule,
            "status": self.status,
            "next_run_utc": _iso(self.next_run_utc),
            "last_run_at": _iso(self.last_run_at),
        }


def describe_schedule(schedule: Any) -> str:
    """A crontab as its five fields in UTC, an interval as seconds."""
    from celery.schedules import crontab
    from celery.schedules import schedule as interval

    if isinstance(schedule, crontab):
        fields = (
            schedule._orig_minute,
            schedule._orig_hour,
            schedule._orig_day_of_month,
            schedule._orig_month_of_year,
            schedule._orig_day_of_week,
        )
        return "cron " + " ".join(str(f) for f in fields) + " UTC"
    if isinstance(schedule, interval):
        return f"every {schedule.run_every.total_seconds():g} s"
    return repr(schedule)


def next_static_run(schedule: Any, last_run_at: datetime | None) -> datetime | None:
    """When a crontab or interval schedule fires next after `last_run_at`, exactly (RedBeat's
    score in the schedule set is that instant rounded down, a second early)."""
    from datetime import UTC

    from celery.schedules import crontab
    from celery.schedules import schedule as interval

    if last_run_at is None:
        return None
    if isinstance(schedule, crontab):
        start, delta, _now = schedule.remaining_delta(last_run_at)
        return (start + delta).astimezone(UTC)
    if isinstance(schedule, interval):
        return (last_run_at + schedule.run_every).astimezone(UTC)
    return None


def list_statics(
    client: redis.Redis, settings: Settings, configured: Mapping[str, Mapping[str, Any]]
) -> list[StaticView]:
    """The statics `configured` (the app's beat_schedule) and those Redis records as statics,
    by name, with the schedule and last run Redis holds (the configured one until stored)."""
    from datetime import UTC

    from core.names import redbeat_statics_key

    store = EntryStore(client, settings)
    stored_names = {
        n.decode() if isinstance(n, bytes) else str(n)
        for n in client.smembers(redbeat_statics_key(settings.redbeat_key_prefix))
    }
    names = sorted(stored_names | set(configured))
    stored = store.read(names)
    scores = client.zmscore(store.schedule_key, [store.key(n) for n in names]) if names else []
    views = []
    for name, score in zip(names, scores, strict=True):
        entry = stored.get(name)
        definition, _ = _decode(entry.definition if entry else None)
        if not isinstance(definition, dict):
            definition = dict(configured.get(name) or {})
        status = "stale" if name not in configured else ("ok" if entry else "pending")
        next_run = next_static_run(definition.get("schedule"), entry.last_run_at if entry else None)
        if next_run is None and score:
            next_run = datetime.fromtimestamp(float(score), UTC)
        views.append(
            StaticView(
                name=name,
                key=store.key(name),
                task=definition.get("task"),
                schedule=describe_schedule(definition.get("schedule")),
                next_run_utc=next_run if score else None,
                last_run_at=entry.last_run_at if entry and entry.fired else None,
                status=status,
            )
        )
    return views
