"""Reconcile RedBeat entries with the users in the database.

One entry per distinct (zone, send time) of active users. The sync reads the desired slots
from the database, reads our entries from Redis, computes a plan with a pure function, and
applies it: create what is missing, update what differs, delete what no user needs, touch
nothing else (not static entries, not other apps' keys). A sync with nothing to change
writes nothing. A Redis lock serialises concurrent syncs, and its token fences the writes: a
sync that outlived its lock writes nothing rather than undo a newer sync's work.

A user row whose zone is not an IANA key, or whose send time is not exactly `HH:MM`, is
skipped and reported, never given an entry: the send task matches the stored text, so an
entry made from a normalised `6:30` would fire and find nobody.

Run it with `panchang resync`, or `python redbeat_sync.py`; Beat also runs it every
PANCHANG_SYNC_INTERVAL_S and at start-up.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis
from sqlalchemy import exists, func, literal, select, union_all
from sqlalchemy.orm import Session, sessionmaker

from core import clock, validate
from core.errors import ServiceUnavailableError, SyncRefusedError, ValidationError
from core.names import SYNC_LOCK_KEY
from core.settings import Settings
from models.user import User
from ops import heartbeats
from scheduler.slots import Slot
from scheduler.store import EntryStore, StoredEntry, definition_for, same_definition

log = logging.getLogger(__name__)

SYNC_LOCK_TIMEOUT_S = 120


@dataclass(frozen=True)
class Desired:
    """What the database asks for: users per valid slot, and users skipped per bad value."""

    users: dict[Slot, int]
    skipped: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """Entry names to create, update and delete, and how many already match."""

    create: list[str]
    update: list[str]
    delete: list[str]
    unchanged: int

    @property
    def empty(self) -> bool:
        return not (self.create or self.update or self.delete)


@dataclass(frozen=True)
class SyncReport:
    created: list[str]
    updated: list[str]
    deleted: list[str]
    unchanged: int
    skipped_users: dict[str, int]
    duration_ms: float
    # True when nothing was written: the lists say what a sync would do.
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "created": self.created,
            "updated": self.updated,
            "deleted": self.deleted,
            "unchanged": self.unchanged,
            "skipped_users": self.skipped_users,
            "duration_ms": round(self.duration_ms, 1),
        }


def desired_slots(session: Session, now: datetime, only: Iterable[Slot] | None = None) -> Desired:
    """Count active users per (zone, send time); rows whose zone is not an IANA key or whose
    send time is not exactly 'HH:MM' are skipped and counted by value.

    With `only`, look at just those slots (a CLI change resyncs what it touched); then each
    count is 1 for "somebody is there", since a presence check is all the sync needs.
    """
    query = (
        select(User.timezone, User.send_time, func.count())
        .where(User.sendable_at(now))
        .group_by(User.timezone, User.send_time)
    )
    if only is not None:
        wanted = list(only)
        if not wanted:
            return Desired({})
        # One index probe per slot (EXISTS) instead of counting every user of a slot that may
        # hold half the table: 40 ms -> 3 ms for a 600k-user slot (BENCHMARKS.md).
        probes = [
            select(literal(zone), literal(send_time), literal(1)).where(
                exists().where(
                    User.timezone == zone, User.send_time == send_time, User.sendable_at(now)
                )
            )
            for zone, send_time in wanted
        ]
        query = union_all(*probes) if len(probes) > 1 else probes[0]  # type: ignore[assignment]
    users: dict[Slot, int] = {}
    skipped: Counter[str] = Counter()
    for zone, send_time, count in session.execute(query):
        if not validate.is_valid_zone(zone):
            skipped[zone] += count
            continue
        if not _exact_hhmm(send_time):
            skipped[f"{zone}@{send_time}"] += count
            continue
        slot = Slot(zone, send_time)
        users[slot] = users.get(slot, 0) + count
    return Desired(users, dict(skipped))


def _exact_hhmm(value: str) -> bool:
    try:
        return validate.send_time(value) == value
    except ValidationError:
        return False


def plan(desired: Mapping[str, str], actual: Mapping[str, StoredEntry]) -> Plan:
    """Pure: `desired` maps entry names to definition JSON; `actual` is what Redis holds.

    An entry is updated when its definition differs or it dropped out of the schedule set
    (Beat would never look at it again).
    """
    create = sorted(name for name in desired if name not in actual)
    update = sorted(
        name
        for name, definition in desired.items()
        if name in actual
        and not (same_definition(actual[name].definition, definition) and actual[name].scheduled)
    )
    delete = sorted(name for name in actual if name not in desired)
    unchanged = len(desired) - len(create) - len(update)
    return Plan(create, update, delete, unchanged)


# A full sync refuses to delete more than this share of a schedule of at least this many
# entries (SyncRefusedError), unless forced: a database that suddenly has no active users is
# far more often the wrong database than a mass exodus, and a wiped schedule sends nothing.
MASS_DELETE_SHARE = 0.5
MASS_DELETE_MIN_ENTRIES = 10


def mass_delete(steps: Plan, present: int) -> bool:
    """Pure: whether `steps` would delete more than half of a schedule of 10 entries or more."""
    return present >= MASS_DELETE_MIN_ENTRIES and len(steps.delete) > present * MASS_DELETE_SHARE


def sync(
    sessions: sessionmaker[Session],
    client: redis.Redis,
    settings: Settings,
    *,
    only: Iterable[Slot] | None = None,
    dry_run: bool = False,
    force: bool = False,
    lock_timeout_s: float = SYNC_LOCK_TIMEOUT_S,
) -> SyncReport:
    """Make Redis hold exactly the entries the database asks for (or, with `only`, for those
    slots alone). Returns what it did; with `dry_run`, what it would do.

    SyncRefusedError, writing nothing, when a full sync would delete more than half of a
    schedule of 10 entries or more (see `mass_delete`), unless `force`.
    LockLostError when the sync took longer than `lock_timeout_s` and another sync may have
    written since: it then writes nothing."""
    started = time.perf_counter()
    store = EntryStore(client, settings)
    scope = None if only is None else sorted(set(only))
    try:
        if dry_run:
            state = _compute(sessions, store, settings, scope)
        else:
            lock = client.lock(SYNC_LOCK_KEY, timeout=lock_timeout_s, blocking_timeout=60)
            if not lock.acquire():
                raise ServiceUnavailableError(
                    f"another sync has held {SYNC_LOCK_KEY} for over 60 s; try again later"
                )
            try:
                state = _compute(sessions, store, settings, scope)
                steps = state.plan
                if scope is None and not force and mass_delete(steps, len(state.current)):
                    raise SyncRefusedError(
                        f"refusing to delete {len(steps.delete)} of the {len(state.current)} "
                        f"entries: the database now has {len(state.wanted.users)} slots with "
                        "active users. Check DATABASE_URL and the user table; if this is "
                        "right, run `panchang resync --force`"
                    )
                if not steps.empty:
                    store.write(
                        create={n: state.definitions[n] for n in steps.create},
                        update={n: state.definitions[n] for n in steps.update},
                        delete=steps.delete,
                        current=state.current,
                        now=clock.now(),
                        fence=(SYNC_LOCK_KEY, _token(lock)),
                    )
            finally:
                with contextlib.suppress(redis.exceptions.LockError):
                    lock.release()  # not ours any more when it expired: nothing to release
    except redis.RedisError as err:
        raise ServiceUnavailableError(f"Redis error during sync: {err}") from err
    steps = state.plan
    report = SyncReport(
        created=steps.create,
        updated=steps.update,
        deleted=steps.delete,
        unchanged=steps.unchanged,
        skipped_users=state.wanted.skipped,
        duration_ms=(time.perf_counter() - started) * 1000,
        dry_run=dry_run,
    )
    if not dry_run and not steps.empty:
        log.info(
            "sync: created %d, updated %d, deleted %d, unchanged %d",
            len(steps.create),
            len(steps.update),
            len(steps.delete),
            steps.unchanged,
        )
    for value, count in report.skipped_users.items():
        log.warning("sync: skipped %d user(s) with invalid zone or time %r", count, value)
    if not dry_run:
        _record(client, report, state.wanted if scope is None else None)
    return report


def _record(client: redis.Redis, report: SyncReport, full: Desired | None) -> None:
    """What `panchang health` and `/metrics` say about syncs; never fails the sync itself."""
    from ops import metrics, metrics_redis

    counted = metrics.Tally()
    scope = "scoped" if full is None else "full"
    counted.observe(metrics.SYNC_DURATION, report.duration_ms / 1000, scope=scope)
    changes = {"created": report.created, "updated": report.updated, "deleted": report.deleted}
    for change, names in changes.items():
        if names:
            counted.inc(metrics.SYNC_CHANGES, len(names), change=change)
    try:
        # One round trip for all of it.
        pipe = client.pipeline(transaction=True)
        metrics_redis.queue_add(pipe, counted.take())
        if full is not None:
            # Only a full sync vouches for every entry; `panchang health` reports its age.
            heartbeats.record_sync(
                pipe, len(report.created), len(report.updated), len(report.deleted)
            )
            metrics_redis.queue_slot_users(
                pipe, {f"{slot.zone}@{slot.send_time}": n for slot, n in full.users.items()}
            )
        pipe.execute()
    except redis.RedisError as err:
        log.warning("sync: could not record the sync for health and metrics: %s", err)


def _token(lock: Any) -> str:
    # redis-py keeps the token it SET as bytes; our clients read strings back.
    token = lock.local.token
    return token.decode() if isinstance(token, bytes) else str(token)


@dataclass(frozen=True)
class _State:
    wanted: Desired
    definitions: dict[str, str]  # desired definition JSON by entry name
    current: dict[str, StoredEntry]
    plan: Plan


def _compute(
    sessions: sessionmaker[Session],
    store: EntryStore,
    settings: Settings,
    scope: list[Slot] | None,
) -> _State:
    with sessions() as session:
        wanted = desired_slots(session, clock.now(), scope)
    prefix = settings.entry_prefix
    definitions = {slot.entry_name(prefix): definition_for(slot, settings) for slot in wanted.users}
    names = store.names() if scope is None else [slot.entry_name(prefix) for slot in scope]
    current = store.read(names)
    return _State(wanted, definitions, current, plan(definitions, current))


def main(argv: list[str] | None = None) -> None:
    """`python redbeat_sync.py [--dry-run]`: one full sync with settings from the environment;
    prints the report as JSON, or one line on stderr and a non-zero exit when it cannot run."""
    import argparse
    import json
    import sys

    parser = argparse.ArgumentParser(
        prog="redbeat_sync.py",
        description="Reconcile the RedBeat entries in Redis with the slots of active users "
        "(DATABASE_URL, REDIS_URL and PANCHANG_* from the environment); prints the report as "
        "JSON. The same as `panchang resync --json`.",
    )
    parser.add_argument("--dry-run", action="store_true", help="show the plan, write nothing")
    parser.add_argument(
        "--force", action="store_true", help="delete even more than half of the entries"
    )
    args = parser.parse_args(argv)

    from sqlalchemy.exc import SQLAlchemyError

    from core.errors import PanchangError
    from models.db import explain, make_engine, session_factory
    from scheduler.store import connect, explain_redis_error

    try:
        settings = Settings.from_env()
        try:
            report = sync(
                session_factory(make_engine(settings.database_url)),
                connect(settings.require_redis_url(), settings.redis_source),
                settings,
                dry_run=args.dry_run,
                force=args.force,
            )
        except SQLAlchemyError as err:
            raise explain(err, settings.database_url) from err
        except redis.RedisError as err:
            raise explain_redis_error(err, settings.redis_url or "", settings.redis_source) from err
    except PanchangError as err:
        print(f"Error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    print(json.dumps(report.to_dict()))


if __name__ == "__main__":
    main()
