"""`panchang resync`, `panchang entries` and the resync that follows a user change."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner, Result

from cli import main
from tests.helpers import add_users

SYNC_KEYS = {
    "dry_run", "created", "updated", "deleted", "unchanged", "skipped_users", "duration_ms",
}  # fmt: skip
ENTRY_KEYS = {
    "name", "key", "timezone", "send_time", "users", "status", "next_run_utc", "next_run_local",
    "last_run_at", "problem",
}  # fmt: skip


@pytest.fixture(autouse=True)
def no_ambient_redis(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No REDIS_URL and no `panchang run` file: each test names its Redis explicitly."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.chdir(tmp_path)


def cli(database_url: str, redis_url: str | None, *args: str) -> Result:
    base = ["--database-url", database_url] + (["--redis-url", redis_url] if redis_url else [])
    return CliRunner().invoke(main, [*base, *args])


def test_resync_json_reports_created_entries_and_skipped_users(
    database_url: str,
    sessions,
    redis_url: str,  # type: ignore[no-untyped-def]
) -> None:
    add_users(sessions, "Asia/Kolkata", "06:30", 2)
    add_users(sessions, "Not/A_Zone", "06:30", 3)
    result = cli(database_url, redis_url, "resync", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report) == SYNC_KEYS
    assert report["dry_run"] is False
    assert report["created"] == ["panchang:send:Asia/Kolkata@06:30"]
    assert report["skipped_users"] == {"Not/A_Zone": 3}
    again = json.loads(cli(database_url, redis_url, "resync", "--json").output)
    assert (again["created"], again["unchanged"]) == ([], 1)


def test_resync_dry_run_writes_nothing(
    database_url: str,
    sessions,
    redis_url: str,
    redis_client: redis.Redis,  # type: ignore[no-untyped-def]
) -> None:
    add_users(sessions, "Asia/Tokyo", "06:30", 1)
    result = cli(database_url, redis_url, "resync", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would be created: panchang:send:Asia/Tokyo@06:30" in result.output
    as_json = json.loads(cli(database_url, redis_url, "resync", "--dry-run", "--json").output)
    assert as_json["dry_run"] is True
    assert as_json["created"] == ["panchang:send:Asia/Tokyo@06:30"]
    assert redis_client.keys("*") == []


def test_resync_without_any_redis_says_how_to_configure_one(database_url: str) -> None:
    result = cli(database_url, None, "resync")
    assert result.exit_code == 2
    assert "REDIS_URL is not set" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_resync_with_unreachable_redis_is_one_clear_line(database_url: str) -> None:
    result = cli(database_url, "redis://127.0.0.1:1/0", "resync")
    assert result.exit_code == 3
    assert result.output.startswith("Error: cannot reach Redis at redis://127.0.0.1:1/0")
    assert len(result.output.strip().splitlines()) == 1


def test_entries_show_next_run_in_local_and_utc_on_a_dst_change_day(
    database_url: str,
    sessions,
    redis_url: str,  # type: ignore[no-untyped-def]
) -> None:
    add_users(sessions, "America/New_York", "06:30", 3)
    add_users(sessions, "Asia/Kathmandu", "06:30", 1)
    cli(database_url, redis_url, "resync")
    # US clocks spring forward at 02:00 on 2026-03-08; 06:30 that day is EDT (-04:00).
    result = cli(database_url, redis_url, "entries", "--json", "--now", "2026-03-08T06:00:00Z")
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    new_york = rows["panchang:send:America/New_York@06:30"]
    assert set(new_york) == ENTRY_KEYS
    assert new_york["key"] == "redbeat:panchang:send:America/New_York@06:30"
    assert new_york["users"] == 3
    assert new_york["next_run_local"] == "2026-03-08T06:30:00-04:00"
    assert new_york["next_run_utc"] == "2026-03-08T10:30:00+00:00"
    kathmandu = rows["panchang:send:Asia/Kathmandu@06:30"]
    assert kathmandu["next_run_utc"] == "2026-03-09T00:45:00+00:00"
    table = cli(database_url, redis_url, "entries", "--now", "2026-03-08T06:00:00Z")
    assert "2026-03-08T06:30:00-04:00" in table.output


def test_entries_list_unreadable_and_stock_utc_entries_with_their_problem(
    database_url: str,
    sessions,
    redis_url: str,  # type: ignore[no-untyped-def]
) -> None:
    from celery.schedules import crontab
    from redbeat.schedulers import RedBeatSchedulerEntry

    from core.names import SEND_TASK
    from core.settings import Settings
    from tasks.app import create_app

    add_users(sessions, "Asia/Kolkata", "06:30", 2)
    cli(database_url, redis_url, "resync")
    # A stock RedBeat crontab under our prefix (it would fire at 06:30 UTC), and an entry
    # whose definition is not even JSON.
    app = create_app(Settings(database_url=database_url, redis_url=redis_url))
    RedBeatSchedulerEntry(
        "panchang:send:Europe/Berlin@06:30", SEND_TASK, crontab(hour=6, minute=30), app=app
    ).save()
    client = redis.Redis.from_url(redis_url)
    client.hset("redbeat:panchang:send:Asia/Tokyo@07:00", "definition", "not json")
    client.zadd("redbeat::schedule", {"redbeat:panchang:send:Asia/Tokyo@07:00": 0})

    result = cli(database_url, redis_url, "entries", "--json", "--now", "2026-03-08T06:00:00Z")
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["panchang:send:Asia/Kolkata@06:30"]["problem"] is None
    berlin = rows["panchang:send:Europe/Berlin@06:30"]
    assert berlin["problem"] == "schedule is a crontab, not a zoned crontab"
    assert berlin["next_run_utc"] is None
    tokyo = rows["panchang:send:Asia/Tokyo@07:00"]
    assert tokyo["problem"].startswith("definition unreadable")
    table = cli(database_url, redis_url, "entries", "--now", "2026-03-08T06:00:00Z")
    assert table.exit_code == 0, table.output
    assert "warning: panchang:send:Europe/Berlin@06:30: schedule is a crontab" in table.stderr
    assert "2 entries cannot run as a zoned slot; `panchang resync` rewrites" in table.stderr
    # And the sync does what the hint says.
    cli(database_url, redis_url, "resync")
    after = cli(database_url, redis_url, "entries", "--json", "--now", "2026-03-08T06:00:00Z")
    assert [row["name"] for row in json.loads(after.stdout)] == ["panchang:send:Asia/Kolkata@06:30"]


@pytest.mark.parametrize("bad", ["yesterday", "2026-03-08T06:00:00"])
def test_entries_rejects_a_bad_or_naive_now(database_url: str, redis_url: str, bad: str) -> None:
    result = cli(database_url, redis_url, "entries", "--now", bad)
    assert result.exit_code == 2
    assert f"invalid --now '{bad}'" in result.output


def test_user_changes_resync_just_their_slots(
    database_url: str, redis_url: str, redis_client: redis.Redis
) -> None:
    assert cli(database_url, None, "db", "upgrade").exit_code == 0
    added = cli(
        database_url, redis_url, "users", "add", "--json", "--phone", "+919876543210",
        "--tz", "Asia/Kolkata", "--lat", "12.97", "--lon", "77.59",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    user_id = str(json.loads(added.stdout)["id"])
    assert redis_client.exists("redbeat:panchang:send:Asia/Kolkata@06:30")
    moved = cli(database_url, redis_url, "users", "update", user_id, "--send-time", "05:45")
    assert moved.exit_code == 0, moved.output
    assert not redis_client.exists("redbeat:panchang:send:Asia/Kolkata@06:30")
    assert redis_client.exists("redbeat:panchang:send:Asia/Kolkata@05:45")
    gone = cli(database_url, redis_url, "users", "deactivate", user_id)
    assert gone.exit_code == 0, gone.output
    assert redis_client.keys("redbeat:panchang:send:*") == []


def test_user_change_with_redis_down_is_saved_and_warns(database_url: str) -> None:
    added = cli(
        database_url, "redis://127.0.0.1:1/0", "users", "add", "--phone", "+919876543211",
        "--tz", "Asia/Kolkata", "--lat", "12.97", "--lon", "77.59",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "Warning: saved, but the schedule was not updated now" in added.output
    listed = json.loads(cli(database_url, None, "users", "list", "--json").stdout)
    assert [u["phone"] for u in listed] == ["+919876543211"]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_database_without_the_schema_gives_one_line_pointing_at_db_upgrade(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        from sqlalchemy import create_engine, text

        from tests.conftest import PG_ADMIN_URL

        request.getfixturevalue("postgres_url")  # skips or fails like every Postgres test
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS panchang_test_empty"))
            conn.execute(text("CREATE DATABASE panchang_test_empty"))
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/panchang_test_empty"
    result = cli(url, None, "users", "list")
    if backend == "postgres":
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE panchang_test_empty WITH (FORCE)"))
        admin.dispose()
    assert result.exit_code == 3
    assert f"the database at DATABASE_URL={url} lacks the current schema" in result.output
    assert result.output.strip().endswith("; run `panchang db upgrade`")
    assert len(result.output.strip().splitlines()) == 1


def test_entries_say_never_until_beat_fires_and_list_missing_and_unused_slots(
    database_url: str,
    sessions,  # type: ignore[no-untyped-def]
    redis_url: str,
    redis_client: redis.Redis,
) -> None:
    from core.settings import Settings
    from scheduler.beat import ZonedRedBeatSchedulerEntry
    from tasks.app import create_app

    add_users(sessions, "Asia/Kolkata", "06:30", 2)
    add_users(sessions, "Asia/Kathmandu", "06:30", 1)
    assert cli(database_url, redis_url, "resync").exit_code == 0
    rows = {
        r["name"]: r for r in json.loads(cli(database_url, redis_url, "entries", "--json").stdout)
    }
    kolkata = rows["panchang:send:Asia/Kolkata@06:30"]
    # The sync dated the new entry's last run at its creation so it is not due at once; that
    # was no run.
    assert (kolkata["status"], kolkata["last_run_at"]) == ("ok", None)
    table = cli(database_url, redis_url, "entries")
    assert "never" in table.stdout
    # Beat fires it: RedBeat records the run in the entry's meta.
    app = create_app(Settings(database_url=database_url, redis_url=redis_url))
    entry = ZonedRedBeatSchedulerEntry.from_key("redbeat:panchang:send:Asia/Kolkata@06:30", app=app)
    fired = next(entry)
    # Kathmandu's entry lost (a hand-deleted key), a user in a new slot not synced yet, and
    # Kolkata's users gone.
    redis_client.delete("redbeat:panchang:send:Asia/Kathmandu@06:30")
    add_users(sessions, "Asia/Tokyo", "07:00", 1)
    rows = {
        r["name"]: r for r in json.loads(cli(database_url, redis_url, "entries", "--json").stdout)
    }
    assert rows["panchang:send:Asia/Kolkata@06:30"]["last_run_at"] == fired.last_run_at.isoformat()
    assert {n: r["status"] for n, r in rows.items()} == {
        "panchang:send:Asia/Kolkata@06:30": "ok",
        "panchang:send:Asia/Kathmandu@06:30": "missing",
        "panchang:send:Asia/Tokyo@07:00": "missing",
    }
    assert rows["panchang:send:Asia/Tokyo@07:00"]["users"] == 1
    table = cli(database_url, redis_url, "entries")
    assert "2 slots with active users have no entry; `panchang resync` creates them" in table.stderr
    with sessions() as session:
        from sqlalchemy import update

        from models import User

        session.execute(update(User).where(User.timezone == "Asia/Kolkata").values(
            obsoleted_on=datetime(2026, 1, 1, tzinfo=UTC)
        ))  # fmt: skip
        session.commit()
    rows = {
        r["name"]: r for r in json.loads(cli(database_url, redis_url, "entries", "--json").stdout)
    }
    assert rows["panchang:send:Asia/Kolkata@06:30"]["status"] == "unused"
