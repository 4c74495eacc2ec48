"""The reconcile job: create, update, delete, no-op, scope, bad zones, concurrency."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
import redis
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

import redbeat_sync
from core import clock
from core.settings import Settings
from models import User
from redbeat_sync import plan
from scheduler.slots import Slot
from scheduler.store import EntryStore, StoredEntry, definition_for
from tests.helpers import add_users

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
WRITES = ("hset", "hsetnx", "hdel", "zadd", "zrem", "del", "unlink", "set", "expire")


@pytest.fixture
def sync_settings(settings: Settings, redis_url: str) -> Settings:
    return settings.with_redis(redis_url)


def run_sync(sessions, client, settings, **kw):  # type: ignore[no-untyped-def]
    with clock.frozen(NOW):
        return redbeat_sync.sync(sessions, client, settings, **kw)


def writes_during(client: redis.Redis, action) -> list[str]:  # type: ignore[no-untyped-def]
    """Every write command Redis executed while `action` ran, as 'command key' strings
    (read with MONITOR, which also shows the commands run inside Lua scripts)."""
    seen: list[str] = []
    ready = threading.Event()

    def listen() -> None:
        with client.monitor() as monitor:
            ready.set()
            for event in monitor.listen():
                words = event["command"].split()
                if words[:2] == ["ECHO", "end-of-test"]:
                    return
                if words and words[0].lower() in WRITES:
                    seen.append(" ".join(words[:2]))

    thread = threading.Thread(target=listen)
    thread.start()
    ready.wait()
    action()
    client.echo("end-of-test")
    thread.join(timeout=10)
    return seen


# --- the pure plan --------------------------------------------------------------------------


def entry(definition: str | None, scheduled: bool = True) -> StoredEntry:
    return StoredEntry("x", definition, None, scheduled)


def test_plan_creates_missing_updates_changed_deletes_unwanted_and_counts_the_rest() -> None:
    desired = {"a": '{"v": 1}', "b": '{"v": 2}', "c": '{"v": 3}', "d": '{"v": 4}'}
    actual = {
        "b": entry('{"v":2}'),  # same JSON, other spacing: unchanged
        "c": entry('{"v": 30}'),  # changed
        "d": entry('{"v": 4}', scheduled=False),  # fell out of the schedule set
        "e": entry('{"v": 5}'),  # nobody needs it
    }
    result = plan(desired, actual)
    assert (result.create, result.update, result.delete, result.unchanged) == (
        ["a"],
        ["c", "d"],
        ["e"],
        1,
    )


def test_plan_of_identical_state_is_empty() -> None:
    desired = {"a": '{"v": 1}'}
    assert plan(desired, {"a": entry('{"v": 1}')}).empty


# --- against Redis and a database -----------------------------------------------------------


def test_sync_creates_one_entry_per_distinct_zone_and_send_time(
    sessions: sessionmaker[Session], redis_client: redis.Redis, sync_settings: Settings
) -> None:
    add_users(sessions, "Asia/Kolkata", "06:30", 3)
    add_users(sessions, "Asia/Kolkata", "07:00", 1)
    add_users(sessions, "Asia/Kathmandu", "06:30", 2)
    add_users(sessions, "Asia/Kolkata", "06:30", 1, obsoleted_on=NOW - timedelta(days=1))
    add_users(sessions, "Europe/Paris", "06:30", 1, obsoleted_on=NOW - timedelta(days=1))
    report = run_sync(sessions, redis_client, sync_settings)
    assert report.created == [
        "panchang:send:Asia/Kathmandu@06:30",
        "panchang:send:Asia/Kolkata@06:30",
        "panchang:send:Asia/Kolkata@07:00",
    ]
    assert (report.updated, report.deleted, report.unchanged) == ([], [], 0)
    key = "redbeat:panchang:send:Asia/Kathmandu@06:30"
    definition = json.loads(redis_client.hget(key, "definition"))
    assert definition["args"] == ["Asia/Kathmandu", "06:30"]
    # First due at the next 06:30 in Kathmandu (+05:45): 00:45 UTC tomorrow, not at once.
    due = redis_client.zscore("redbeat::schedule", key)
    assert due == datetime(2026, 11, 22, 0, 45, tzinfo=UTC).timestamp()


def test_user_obsoleted_in_the_future_is_still_active(
    sessions: sessionmaker[Session], redis_client: redis.Redis, sync_settings: Settings
) -> None:
    add_users(sessions, "Asia/Tokyo", "06:30", 1, obsoleted_on=NOW + timedelta(days=3))
    assert run_sync(sessions, redis_client, sync_settings).created == [
        "panchang:send:Asia/Tokyo@06:30"
    ]


def test_second_sync_with_nothing_to_change_writes_nothing_to_redis(
    sessions: sessionmaker[Session], redis_client: redis.Redis, sync_settings: Settings
) -> None:
    add_users(sessions, "Asia/Kolkata", "06:30", 2)
    add_users(sessions, "America/St_Johns", "05:45", 1)
    run_sync(sessions, redis_client, sync_settings)
    snapshot = {k: redis_client.dump(k) for k in redis_client.keys("redbeat:*")}
    reports = []
    writes = writes_during(
        redis_client, lambda: reports.append(run_sync(sessions, redis_client, sync_settings))
    )
    report = reports[0]
    assert (report.created, report.updated, report.deleted, report.unchanged) == ([], [], [], 2)
    # The sync's own lock (SET NX, then DEL in its release script) is the only write allowed.
    assert {w.split()[1] for w in writes} == {redbeat_sync.SYNC_LOCK_KEY}
    assert {k: redis_client.dump(k) for k in redis_client.keys("redbeat:*")} == snapshot


def test_update_rewrites_the_definition_and_keeps_last_run_at(
    sessions: sessionmaker[Session], redis_client: redis.Redis, sync_settings: Settings
) -> None:
    add_users(sessions, "Asia/Kolkata", "06:30", 1)
    run_sync(sessions, redis_client, sync_settings)
    key = "redbeat:panchang:send:Asia/Kolkata@06:30"
    ran = '{"last_run_at": {"__type__": "datetime", "year": 2026, "month": 11, "day": 21, "hour": 1, "minute": 0, "second": 0, "microsecond": 0, "timezone": "UTC"}}'  # noqa: E501
    redis_client.hset(key, "meta", ran)
    stale = json.loads(redis_client.hget(key, "definition"))
    stale["task"] = "old_task_name"
    redis_client.hset(key, "definition", json.dumps(stale))
    report = run_sync(sessions, redis_client, sync_settings)
    assert report.updated == ["panchang:send:Asia/Kolkata@06:30"]
    assert json.loads(redis_client.hget(key, "definition"))["task"] == "send_for_timezone"
    assert redis_client.hget(key, "meta") == ran
    # Next due computed from that last run: 06:30 IST on the 22nd.
    expected = datetime(2026, 11, 22, 1, 0, tzinfo=UTC).timestamp()
    assert redis_client.zscore("redbeat::schedule", key) == expected


def test_entry_missing_from_the_schedule_set_is_put_back(
    sessions: sessionmaker[Session], redis_client: redis.Redis, sync_settings: Settings
) -> None:
    add_users(sessions, "Asia/Kolkata", "06:30", 1)
    run_sync(sessions, redis_client, sync_settings)
    key = "redbeat:panchang:send:Asia/Kolkata@06:30"
    redis_client.zrem("redbeat::schedule", key)
    assert run_sync(sessions, redis_client, sync_settings).updated == [key[len("redbeat:") :]]
    assert redis_client.zscore("redbeat::schedule", key) is not None


def test_sync_deletes_entries_no_active_user_needs_and_touches_nothing_else(
    sessions: sessionmaker[Session], redis_client: redis.Redis, sync_settings: Settings
) -> None:
    ids = add_users(sessions, "Europe/London", "06:30", 2)
    run_sync(sessions, redis_client, sync_settings)
    others = {
        "redbeat:panchang:sync": "static entry from beat_schedule",
        "redbeat:someone-else:send:Europe/London@06:30": "another app",
        "redbeat:panchang:sender": "outside our prefix by one character",
        "unrelated": "not RedBeat at all",
    }
    for key, value in others.items():
        redis_client.hset(key, "definition", value)
    redis_client.zadd("redbeat::schedule", {"redbeat:someone-else:send:Europe/London@06:30": 5})
    before = {k: redis_client.dump(k) for k in others}
    with sessions() as session:
        session.execute(update(User).where(User.id.in_(ids)).values(obsoleted_on=NOW))
        session.commit()
    report = run_sync(sessions, redis_client, sync_settings)
    assert report.deleted == ["panchang:send:Europe/London@06:30"]
    assert not redis_client.exists("redbeat:panchang:send:Europe/London@06:30")
    assert redis_client.zrange("redbeat::schedule", 0, -1) == [
        "redbeat:someone-else:send:Europe/London@06:30"
    ]
    assert {k: redis_client.dump(k) for k in others} == before


def test_users_with_invalid_zones_are_counted_per_value_and_do_not_stop_the_sync(
    sessions: sessionmaker[Session], redis_client: redis.Redis, sync_settings: Settings
) -> None:
    add_users(sessions, "Mars/Olympus_Mons", "06:30", 2)
    add_users(sessions, "Asia/Calcutta ", "06:30", 1)  # trailing space: not a zone key
    add_users(sessions, "Asia/Kolkata", "06:30", 1)
    report = run_sync(sessions, redis_client, sync_settings)
    assert report.created == ["panchang:send:Asia/Kolkata@06:30"]
    assert report.skipped_users == {"Mars/Olympus_Mons": 2, "Asia/Calcutta ": 1}


def test_scoped_sync_touches_only_the_named_slots(
    sessions: sessionmaker[Session], redis_client: redis.Redis, sync_settings: Settings
) -> None:
    add_users(sessions, "Asia/Kolkata", "06:30", 1)
    add_users(sessions, "Asia/Tokyo", "06:30", 1)
    report = run_sync(sessions, redis_client, sync_settings, only=[Slot("Asia/Tokyo", "06:30")])
    assert report.created == ["panchang:send:Asia/Tokyo@06:30"]
    assert not redis_client.exists("redbeat:panchang:send:Asia/Kolkata@06:30")
    # A slot nobody uses any more is deleted by a scoped sync too, and only that slot.
    run_sync(sessions, redis_client, sync_settings, only=[Slot("Asia/Kolkata", "06:30")])
    with sessions() as session:
        session.execute(update(User).values(obsoleted_on=NOW))
        session.commit()
    report = run_sync(sessions, redis_client, sync_settings, only=[Slot("Asia/Tokyo", "06:30")])
    assert (report.created, report.deleted) == ([], ["panchang:send:Asia/Tokyo@06:30"])
    assert redis_client.exists("redbeat:panchang:send:Asia/Kolkata@06:30")  # out of scope


def test_dry_run_reports_the_plan_and_writes_nothing(
    sessions: sessionmaker[Session], redis_client: redis.Redis, sync_settings: Settings
) -> None:
    add_users(sessions, "Asia/Kolkata", "06:30", 1)
    report = run_sync(sessions, redis_client, sync_settings, dry_run=True)
    assert report.created == ["panchang:send:Asia/Kolkata@06:30"]
    assert redis_client.keys("*") == []


def test_concurrent_syncs_leave_redis_correct_and_create_each_entry_once(
    sessions: sessionmaker[Session], redis_url: str, sync_settings: Settings
) -> None:
    zones = ["Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns", "Pacific/Chatham"]
    for zone in zones:
        add_users(sessions, zone, "06:30", 2)
    reports, errors = [], []

    def worker() -> None:
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        try:
            reports.append(run_sync(sessions, client, sync_settings))
        except Exception as err:  # surfaced below
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    created = sorted(name for r in reports for name in r.created)
    assert created == sorted(f"panchang:send:{z}@06:30" for z in zones)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    store = EntryStore(client, sync_settings)
    assert store.names() == sorted(f"panchang:send:{z}@06:30" for z in zones)
    for zone in zones:
        name = f"panchang:send:{zone}@06:30"
        assert client.hget(f"redbeat:{name}", "definition") == definition_for(
            Slot(zone, "06:30"), sync_settings
        )
