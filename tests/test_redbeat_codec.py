"""Our entries keep their zone in Redis; stock RedBeat can never run them as UTC crontabs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis
from celery.schedules import crontab
from redbeat.decoder import RedBeatJSONDecoder
from redbeat.schedulers import RedBeatScheduler, RedBeatSchedulerEntry

from core.settings import Settings
from scheduler.beat import ZonedRedBeatSchedulerEntry
from scheduler.slots import Slot
from scheduler.store import EntryStore, definition_for
from scheduler.zoned import ZonedCrontab
from tasks.app import PanchangCelery, create_app

KOLKATA = Slot("Asia/Kolkata", "06:30")
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)  # 17:30 in Kolkata


@pytest.fixture
def app(redis_url: str) -> PanchangCelery:
    return create_app(Settings(database_url="sqlite://", redis_url=redis_url))


def store_entry(client: redis.Redis, slot: Slot) -> str:
    store = EntryStore(client, Settings(database_url="sqlite://", redis_url=None))
    name = slot.entry_name()
    store.write({name: definition_for(slot, store.settings)}, {}, [], {}, NOW)
    return store.key(name)


def test_stock_redbeat_drops_a_crontab_zone_which_is_why_we_have_our_own_type(app) -> None:  # type: ignore[no-untyped-def]
    """The trap this project exists to avoid, kept as a canary: if upstream ever fixes it,
    this test fails and tells us."""
    kolkata = ZoneInfo("Asia/Kolkata")
    entry = RedBeatSchedulerEntry(
        "stock",
        "send_for_timezone",
        crontab(hour=6, minute=30, nowfun=lambda: datetime.now(kolkata)),
        app=app,
    )
    entry.save()
    loaded = RedBeatSchedulerEntry.from_key(entry.key, app=app)
    assert type(loaded.schedule) is crontab
    assert loaded.schedule.nowfun is None  # the zone is gone: evaluated in the app's UTC
    assert str(loaded.schedule.tz) == "UTC"


def test_round_trip_through_redis_keeps_the_zone_and_the_local_time(
    app,
    redis_client: redis.Redis,  # type: ignore[no-untyped-def]
) -> None:
    key = store_entry(redis_client, KOLKATA)
    entry = ZonedRedBeatSchedulerEntry.from_key(key, app=app)
    assert isinstance(entry.schedule, ZonedCrontab)
    assert entry.schedule.zone == "Asia/Kolkata"
    assert entry.task == "send_for_timezone"
    assert entry.args == ["Asia/Kolkata", "06:30"]
    # Next fire: 06:30 IST on the 22nd is 01:00 UTC, not 06:30 UTC.
    assert entry.schedule.next_run_after(NOW) == datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
    assert entry.last_run_at == NOW


def test_saving_through_the_zoned_entry_class_keeps_the_zone(app) -> None:  # type: ignore[no-untyped-def]
    entry = ZonedRedBeatSchedulerEntry(
        "panchang:send:America/St_Johns@06:30",
        "send_for_timezone",
        ZonedCrontab.daily("America/St_Johns", "06:30"),
        args=["America/St_Johns", "06:30"],
        app=app,
    )
    entry.save()
    loaded = ZonedRedBeatSchedulerEntry.from_key(entry.key, app=app)
    assert loaded.schedule == ZonedCrontab.daily("America/St_Johns", "06:30")


def test_raw_definition_is_readable_with_redis_cli(redis_client: redis.Redis) -> None:
    key = store_entry(redis_client, KOLKATA)
    assert key == "redbeat:panchang:send:Asia/Kolkata@06:30"
    raw = json.loads(redis_client.hget(key, "definition"))
    assert raw["task"] == "send_for_timezone"
    assert raw["args"] == ["Asia/Kolkata", "06:30"]
    assert raw["schedule"]["timezone"] == "Asia/Kolkata"
    assert (raw["schedule"]["hour"], raw["schedule"]["minute"]) == ("6", "30")


def test_stock_redbeat_refuses_our_entry_instead_of_running_it_as_utc(
    app,
    redis_client: redis.Redis,  # type: ignore[no-untyped-def]
) -> None:
    key = store_entry(redis_client, KOLKATA)
    decoded = json.loads(redis_client.hget(key, "definition"), cls=RedBeatJSONDecoder)
    assert not isinstance(decoded["schedule"], crontab)
    with pytest.raises(AttributeError):
        RedBeatSchedulerEntry.from_key(key, app=app)
    # A stock Beat's tick fails loudly on it (it never reaches "send").
    redis_client.zadd("redbeat::schedule", {key: 0})
    stock = RedBeatScheduler(app=app)
    stock.lock_key = None  # no lock needed to tick in a test
    with pytest.raises(AttributeError, match="'dict' object has no attribute 'app'"):
        stock.tick()


def test_our_scheduler_skips_an_undecodable_entry_and_still_runs_the_others(
    app,
    redis_client: redis.Redis,  # type: ignore[no-untyped-def]
) -> None:
    good = store_entry(redis_client, KOLKATA)
    bad = "redbeat:panchang:send:Nowhere/Zone@06:30"
    broken = redis_client.hget(good, "definition").replace("Asia/Kolkata", "Nowhere/Zone")
    redis_client.hset(bad, mapping={"definition": broken})
    redis_client.zadd("redbeat::schedule", {bad: 0, good: 0})
    from scheduler.beat import ZonedRedBeatScheduler

    loaded = ZonedRedBeatScheduler(app=app).schedule
    assert list(loaded) == [KOLKATA.entry_name()]
    assert redis_client.zscore("redbeat::schedule", bad) is None  # left for the sync to repair


def test_new_entry_is_not_due_before_its_first_scheduled_time(
    app,
    redis_client: redis.Redis,  # type: ignore[no-untyped-def]
) -> None:
    key = store_entry(redis_client, KOLKATA)
    entry = ZonedRedBeatSchedulerEntry.from_key(key, app=app)
    first = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
    assert redis_client.zscore("redbeat::schedule", key) == first.timestamp()
    entry.schedule.nowfun = lambda: first - timedelta(seconds=1)
    assert entry.is_due()[0] is False
    entry.schedule.nowfun = lambda: first
    assert entry.is_due()[0] is True


def test_a_zoned_crontab_never_equals_a_plain_crontab_with_the_same_fields() -> None:
    zoned = ZonedCrontab.daily("Asia/Kolkata", "06:30")
    plain = crontab(hour=6, minute=30)
    assert plain != zoned and zoned != plain
    assert (plain == zoned) is False and (zoned == plain) is False
    assert zoned == ZonedCrontab.daily("Asia/Kolkata", "06:30")
    assert zoned != ZonedCrontab.daily("Asia/Kathmandu", "06:30")


def _due_now(client: redis.Redis, key: str) -> None:
    client.zadd("redbeat::schedule", {key: 0})
    client.hset(key, "meta", '{"last_run_at": null}')


@pytest.mark.parametrize(
    ("name", "definition", "problem"),
    [
        # What a stock RedBeat client writes: it would fire at 06:30 UTC, not Tokyo time.
        ("panchang:send:Asia/Tokyo@07:00", None, "schedule is a crontab, not a zoned crontab"),
        ("panchang:send:Asia/Tokyo@07:00", ("Asia/Kolkata", "07:00"), "args are"),
        ("panchang:send:Asia/Tokyo@07:00", ("Asia/Tokyo", "06:30"), "is not daily at 07:00"),
    ],
)
def test_our_beat_refuses_an_entry_under_our_prefix_that_is_not_its_zoned_slot(
    app, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
    name: str, definition: tuple[str, str] | None, problem: str,
) -> None:  # fmt: skip
    from scheduler.beat import ZonedRedBeatScheduler

    if definition is None:
        entry = RedBeatSchedulerEntry(
            name, "send_for_timezone", crontab(hour=7, minute=0), args=["Asia/Tokyo", "07:00"],
            app=app,
        )  # fmt: skip
        entry.save()
    else:
        zone, send_time = definition
        wrong = json.loads(definition_for(Slot(zone, send_time), app.settings))
        right_name_args = json.loads(definition_for(Slot("Asia/Tokyo", "07:00"), app.settings))
        if zone != "Asia/Tokyo":
            right_name_args["args"] = wrong["args"]
        else:
            right_name_args["schedule"] = wrong["schedule"]
        redis_client.hset(f"redbeat:{name}", "definition", json.dumps(right_name_args))
    key = f"redbeat:{name}"
    _due_now(redis_client, key)
    sent: list[str] = []
    scheduler = ZonedRedBeatScheduler(app=app)
    scheduler.lock_key = None
    scheduler.apply_async = lambda entry, **_: sent.append(entry.name)  # type: ignore[method-assign]
    with caplog.at_level("ERROR", logger="celery.beat"):
        scheduler.tick()
    assert sent == []
    assert f"beat: entry {name} cannot run as a zoned slot" in caplog.text
    assert problem in caplog.text
    # Dropped from the schedule set: the next sync sees it unscheduled and rewrites it.
    assert redis_client.zscore("redbeat::schedule", key) is None


def test_when_our_beat_sends_a_slot_it_marks_the_slot_queued(
    app,
    redis_client: redis.Redis,  # type: ignore[no-untyped-def]
) -> None:
    from scheduler.beat import ZonedRedBeatScheduler

    key = store_entry(redis_client, KOLKATA)
    _due_now(redis_client, key)
    scheduler = ZonedRedBeatScheduler(app=app)
    scheduler.lock_key = None
    scheduler.tick()
    [message] = redis_client.lrange("celery", 0, -1)
    assert json.loads(message)["headers"]["task"] == "send_for_timezone"
    assert redis_client.get("panchang:queued:Asia/Kolkata@06:30") == "beat"
    assert 0 < redis_client.ttl("panchang:queued:Asia/Kolkata@06:30") <= 600
