"""The reconcile job: create, update, delete, no-op, scope, bad zones, concurrency."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis
from sqlalchemy import Engine, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

import redbeat_sync
from core import clock
from core.errors import LockLostError, SchemaError, SyncRefusedError, ValidationError
from core.names import METRICS_KEY, SLOT_USERS_KEY, SYNC_HEARTBEAT_KEY, SYNC_LOCK_KEY
from core.settings import Settings
from models import User
from models.db import current_revision, make_engine, session_factory, upgrade
from redbeat_sync import plan
from scheduler.slots import Slot
from scheduler.store import EntryStore, StoredEntry, definition_for
from tests.helpers import add_users

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
WRITES = (
    "hset",
    "hsetnx",
    "hdel",
    "hincrbyfloat",
    "zadd",
    "zrem",
    "del",
    "unlink",
    "set",
    "expire",
)


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
    # The sync's own lock (SET NX, then DEL in its release script) and its records for
    # `panchang health` and `/metrics` are the only writes allowed.
    assert {w.split()[1] for w in writes} == {
        SYNC_LOCK_KEY, SYNC_HEARTBEAT_KEY, METRICS_KEY, SLOT_USERS_KEY
    }  # fmt: skip
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
            reports.append(redbeat_sync.sync(sessions, client, sync_settings))
        except Exception as err:  # surfaced below
            errors.append(err)

    # One frozen clock for all threads: clock.frozen() swaps a process-wide function, so
    # threads entering and leaving their own blocks would restore each other's.
    with clock.frozen(NOW):
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


# --- the lock fences the writes -------------------------------------------------------------


def test_a_sync_that_outlived_its_lock_writes_nothing_over_a_newer_sync(
    sessions: sessionmaker[Session], redis_client: redis.Redis, sync_settings: Settings,
    monkeypatch: pytest.MonkeyPatch, redis_url: str,
) -> None:  # fmt: skip
    """Slow sync A read the database before a user arrived; its lock expired, sync B created
    the user's entry; A must not then delete it."""
    add_users(sessions, "Asia/Kolkata", "06:30", 1)
    run_sync(sessions, redis_client, sync_settings)
    real = redbeat_sync.desired_slots
    newer: list[redbeat_sync.SyncReport] = []
    reads: list[int] = []

    def slow_read(session, now, only=None):  # type: ignore[no-untyped-def]
        wanted = real(session, now, only)  # A's view: only Kolkata
        reads.append(1)
        if len(reads) == 1:  # A's read; B's (inside) reads normally
            time.sleep(1.2)  # A's 1 s lock expires meanwhile
            add_users(sessions, "Asia/Tokyo", "06:30", 1)
            other = redis.Redis.from_url(redis_url, decode_responses=True)
            newer.append(run_sync(sessions, other, sync_settings))  # B: creates Tokyo
        return wanted

    monkeypatch.setattr(redbeat_sync, "desired_slots", slow_read)
    with pytest.raises(LockLostError, match="sync lost its lock"):
        run_sync(sessions, redis_client, sync_settings, lock_timeout_s=1)
    assert newer[0].created == ["panchang:send:Asia/Tokyo@06:30"]
    # A's plan (delete Tokyo) was not applied.
    assert redis_client.exists("redbeat:panchang:send:Asia/Tokyo@06:30")


# --- send times: exactly HH:MM, whoever writes the row ---------------------------------------


def test_the_database_refuses_a_send_time_that_is_not_hh_mm_from_plain_sql(
    engine: Engine,
) -> None:
    insert = text(
        "INSERT INTO user_detail (phone, timezone, latitude, longitude, send_time, created_at) "
        "VALUES ('+919876543210', 'Asia/Kolkata', 12.97, 77.59, :t, CURRENT_TIMESTAMP)"
    )
    for bad in ("6:30", "06:3", "24:00", "06:60", "0630", " 6:30", "ab:cd"):
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert, {"t": bad})
    with engine.begin() as conn:
        conn.execute(insert, {"t": "23:59"})


def test_the_model_normalises_send_times_on_every_write(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        user = User(
            phone="+919876543211", timezone="Asia/Kolkata", latitude=12.97, longitude=77.59,
            send_time="6:30", created_at=NOW,
        )  # fmt: skip
        session.add(user)
    assert user.send_time == "06:30"
    with pytest.raises(ValidationError, match="invalid send_time '25:00'"):
        User(send_time="25:00")


def test_the_migration_repairs_h_mm_rows_so_their_users_are_sent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO user_detail (phone, timezone, latitude, longitude, send_time, created_at)"
            " VALUES ('+919876543212', 'Asia/Kolkata', 12.97, 77.59, '6:30', '2026-01-01')"
        ))  # fmt: skip
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT send_time FROM user_detail")).scalar() == "06:30"


def test_the_migration_refuses_rows_it_cannot_repair_and_names_them(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO user_detail (phone, timezone, latitude, longitude, send_time, created_at)"
            " VALUES ('+919876543213', 'Asia/Kolkata', 12.97, 77.59, 'noon', '2026-01-01')"
        ))  # fmt: skip
    with pytest.raises(
        SchemaError, match=r"values that are not a time HH:MM: 'noon' \(user ids 1\)"
    ):
        upgrade(engine)
    assert current_revision(engine) == "0001"  # nothing half-applied


def test_a_sync_on_rows_the_check_never_saw_reports_them_instead_of_an_empty_entry(
    tmp_path: Path,
) -> None:
    """A row written around the check (SQLite with checks switched off, a restored dump) may
    hold `6:30`: the sync must not create an entry for 06:30 that the send task would find
    empty."""
    engine = make_engine(f"sqlite:///{tmp_path / 'panchang.db'}")
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("PRAGMA ignore_check_constraints = ON"))
        conn.execute(text(
            "INSERT INTO user_detail (phone, timezone, latitude, longitude, send_time, created_at)"
            " VALUES ('+919876543214', 'Asia/Kolkata', 12.97, 77.59, '6:30', '2026-01-01')"
        ))  # fmt: skip
    with session_factory(engine)() as session:
        wanted = redbeat_sync.desired_slots(session, NOW)
    assert wanted.users == {}
    assert wanted.skipped == {"Asia/Kolkata@6:30": 1}


def test_a_stock_crontab_under_our_prefix_for_a_slot_with_users_is_rewritten_as_zoned(
    sessions: sessionmaker[Session], redis_client: redis.Redis, sync_settings: Settings
) -> None:
    from celery.schedules import crontab
    from redbeat.schedulers import RedBeatSchedulerEntry

    from scheduler.beat import ZonedRedBeatScheduler
    from scheduler.zoned import ZonedCrontab
    from tasks.app import create_app

    add_users(sessions, "Asia/Tokyo", "07:00", 1)
    app = create_app(sync_settings)
    # What a stock RedBeat client writes: it would fire at 07:00 UTC, 16:00 in Tokyo.
    RedBeatSchedulerEntry(
        "panchang:send:Asia/Tokyo@07:00", "send_for_timezone", crontab(hour=7, minute=0),
        args=["Asia/Tokyo", "07:00"], app=app,
    ).save()  # fmt: skip
    key = "redbeat:panchang:send:Asia/Tokyo@07:00"
    redis_client.zadd("redbeat::schedule", {key: 0})
    beat = ZonedRedBeatScheduler(app=app)
    beat.lock_key = None
    assert "panchang:send:Asia/Tokyo@07:00" not in beat.schedule  # refused, dropped from the set
    report = run_sync(sessions, redis_client, sync_settings)
    assert report.updated == ["panchang:send:Asia/Tokyo@07:00"]
    entry = beat.Entry.from_key(key, app=app)
    assert entry.schedule == ZonedCrontab.daily("Asia/Tokyo", "07:00")
    # Next fire at 07:00 in Tokyo (22:00 UTC), not 07:00 UTC.
    due = datetime.fromtimestamp(redis_client.zscore("redbeat::schedule", key), UTC)
    assert (due.hour, due.minute) == (22, 0)
    assert due.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%H:%M") == "07:00"


# --- a sync never mass-deletes by mistake ----------------------------------------------------

CITIES = [
    ("Asia/Kolkata", 12.97, 77.59), ("America/New_York", 40.71, -74.01),
    ("Europe/London", 51.51, -0.13), ("Asia/Dubai", 25.20, 55.27),
    ("America/Chicago", 41.88, -87.63), ("Asia/Singapore", 1.35, 103.82),
    ("Australia/Sydney", -33.87, 151.21), ("Africa/Nairobi", -1.29, 36.82),
    ("Asia/Kathmandu", 27.72, 85.32), ("America/Toronto", 43.65, -79.38),
    ("Europe/Berlin", 52.52, 13.40), ("Pacific/Auckland", -36.85, 174.76),
]  # fmt: skip


def twelve_slots(sessions: sessionmaker[Session]) -> list[int]:
    return [add_users(sessions, zone, "06:30", 1, lat=lat, lon=lon)[0]
            for zone, lat, lon in CITIES]  # fmt: skip


def leave(sessions: sessionmaker[Session], user_ids: list[int]) -> None:
    with sessions.begin() as session:
        session.execute(
            update(User).where(User.id.in_(user_ids)).values(obsoleted_on=NOW - timedelta(days=1))
        )


def test_a_sync_that_would_delete_most_of_the_schedule_refuses_and_writes_nothing(
    sessions: sessionmaker[Session], redis_client: redis.Redis, sync_settings: Settings
) -> None:
    users = twelve_slots(sessions)
    run_sync(sessions, redis_client, sync_settings)
    before = {k: redis_client.dump(k) for k in redis_client.keys("redbeat:*")}
    leave(sessions, users[:7])  # 7 of 12: more than half
    with pytest.raises(SyncRefusedError) as refused:
        run_sync(sessions, redis_client, sync_settings)
    assert str(refused.value) == (
        "refusing to delete 7 of the 12 entries: the database now has 5 slots with active "
        "users. Check DATABASE_URL and the user table; if this is right, run "
        "`panchang resync --force`"
    )
    assert {k: redis_client.dump(k) for k in redis_client.keys("redbeat:*")} == before
    assert not redis_client.exists(SYNC_LOCK_KEY)  # released: the next sync is not blocked
    forced = run_sync(sessions, redis_client, sync_settings, force=True)
    assert len(forced.deleted) == 7 and forced.unchanged == 5


def test_half_of_the_schedule_or_a_small_schedule_may_go(
    sessions: sessionmaker[Session], redis_client: redis.Redis, sync_settings: Settings
) -> None:
    users = twelve_slots(sessions)
    run_sync(sessions, redis_client, sync_settings)
    leave(sessions, users[:6])  # exactly half of 12
    assert len(run_sync(sessions, redis_client, sync_settings).deleted) == 6
    leave(sessions, users[6:])  # all 6 left: a schedule under 10 entries
    assert len(run_sync(sessions, redis_client, sync_settings).deleted) == 6


def test_an_empty_database_wipes_nothing_and_the_periodic_sync_alerts_once_a_day(
    sessions: sessionmaker[Session], redis_client: redis.Redis, sync_settings: Settings,
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from tasks import runtime
    from tasks.sync import sync_redbeat

    users = twelve_slots(sessions)
    run_sync(sessions, redis_client, sync_settings)
    leave(sessions, users)  # as a truncated table or the wrong DATABASE_URL looks
    monkeypatch.setattr(runtime, "sessions", lambda: sessions)
    monkeypatch.setattr(runtime, "redis_client", lambda: redis_client)
    monkeypatch.setattr(runtime, "settings", lambda: sync_settings)
    with caplog.at_level("ERROR"):
        first, second = sync_redbeat.run(), sync_redbeat.run()
    assert first["refused"].startswith("refusing to delete 12 of the 12 entries")
    assert second == first
    alerts = [r for r in caplog.records if r.getMessage().startswith("ALERT sync-refused")]
    assert len(alerts) == 1
    assert len(redis_client.keys("redbeat:panchang:send:*")) == 12


def test_resync_says_why_it_refused_and_force_deletes(
    sessions: sessionmaker[Session], redis_client: redis.Redis, sync_settings: Settings
) -> None:
    from click.testing import CliRunner

    from cli import main

    users = twelve_slots(sessions)
    run_sync(sessions, redis_client, sync_settings)
    leave(sessions, users[:10])
    env = sync_settings.to_env()
    refused = CliRunner().invoke(main, ["resync"], env=env)
    assert refused.exit_code == 1
    assert refused.stderr.strip().splitlines() == [
        "Error: refusing to delete 10 of the 12 entries: the database now has 2 slots with "
        "active users. Check DATABASE_URL and the user table; if this is right, run "
        "`panchang resync --force`"
    ]
    dry = CliRunner().invoke(main, ["resync", "--dry-run", "--json"], env=env)
    assert dry.exit_code == 0 and len(json.loads(dry.stdout)["deleted"]) == 10  # shows, writes not
    assert len(redis_client.keys("redbeat:panchang:send:*")) == 12
    forced = CliRunner().invoke(main, ["resync", "--force", "--json"], env=env)
    assert forced.exit_code == 0, forced.output
    assert len(json.loads(forced.stdout)["deleted"]) == 10
    assert len(redis_client.keys("redbeat:panchang:send:*")) == 2
