"""Maintenance: the retention cleanup, the daily stats rollup, `panchang report`, the weekly
summary, and their static Beat entries (`panchang entries --all`)."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner, Result
from sqlalchemy import Engine, event, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from cli import main
from core.errors import ConfigError
from core.settings import Settings
from maintenance import daily_stats
from maintenance.daily_stats import (
    SlotDay,
    due_for_rollup,
    finished_at,
    last_iso_week,
    read_stats,
    rollup,
    summarise_week,
    week_summary,
)
from maintenance.retention import cleanup, retention_cutoff
from models import DailyStat, Delivery, SendBatch, SendRun, User
from tests.helpers import add_users

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
GRACE = 10800


@pytest.fixture(autouse=True)
def no_ambient_redis(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("PANCHANG_ALERT_URL", raising=False)
    monkeypatch.chdir(tmp_path)


def cli(database_url: str, redis_url: str | None, *args: str) -> Result:
    base = ["--database-url", database_url] + (["--redis-url", redis_url] if redis_url else [])
    return CliRunner().invoke(main, [*base, *args])


def _delivery(user_id: int | None, day: date, zone: str, send_time: str, status: str) -> dict:
    return {
        "user_id": user_id,
        "local_date": day,
        "timezone": zone,
        "send_time": send_time,
        "status": status,
        "attempts": 1,
        "created_at": NOW,
    }


def _runs(
    sessions: sessionmaker[Session], rows: list[tuple[str, str, date, str | None]], batches: int
) -> None:
    """send_run rows (zone, send time, local date, outcome), each with `batches` batches."""
    with sessions.begin() as session:
        for zone, send_time, day, outcome in rows:
            run = SendRun(
                timezone=zone, send_time=send_time, local_date=day, started_at=NOW, outcome=outcome
            )
            session.add(run)
            session.flush()
            session.add_all(
                SendBatch(run_id=run.id, seq=n, after_id=n * 500) for n in range(batches)
            )


# --- Retention cleanup -----------------------------------------------------------------------


def test_cleanup_on_a_large_table_deletes_exactly_the_old_rows_in_short_bounded_transactions(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    # 200,000 ledger rows over 120 local dates: 1,000 users a day, plus 80,000 rows of users
    # who were erased since (user_id NULL, which the unique key does not constrain).
    user_ids = add_users(sessions, "Asia/Kolkata", "06:30", 1000)
    days = [NOW.date() - timedelta(days=n) for n in range(120)]
    rows = [_delivery(u, d, "Asia/Kolkata", "06:30", "sent") for d in days for u in user_ids]
    rows += [_delivery(None, days[n % 120], "Asia/Kolkata", "06:30", "read") for n in range(80000)]
    assert len(rows) == 200_000
    with engine.begin() as conn:
        conn.execute(insert(Delivery), rows)
    _runs(sessions, [("Asia/Kolkata", "06:30", d, "complete") for d in days], batches=3)

    cutoff = retention_cutoff(NOW, 90)
    assert cutoff == date(2026, 8, 24)
    old = sum(1 for r in rows if r["local_date"] < cutoff)
    old_runs = sum(1 for d in days if d < cutoff)
    assert old == 29 * 1000 + 29 * (80000 // 120) + sum(
        1 for n in range(80000 % 120) if days[n] < cutoff
    )

    commits: list[int] = []
    event.listen(engine, "commit", lambda _conn: commits.append(1))
    report = cleanup(sessions, NOW, 90, batch_size=5000)

    assert sum(report.deliveries) == old
    assert all(0 < n <= 5000 for n in report.deliveries + report.batches + report.runs)
    assert len(report.deliveries) == math.ceil(old / 5000)  # many short transactions
    assert sum(report.batches) == old_runs * 3 and sum(report.runs) == old_runs
    # One commit per batch, plus at most one empty one per table to see it is done.
    assert len(report.deliveries) + len(report.batches) + len(report.runs) <= len(commits)
    assert len(commits) <= len(report.deliveries) + len(report.batches) + len(report.runs) + 3
    assert report.to_dict()["unfinished"] is False
    with sessions() as session:
        assert session.scalar(select(func.min(Delivery.local_date))) == cutoff
        assert session.scalar(select(func.count()).select_from(Delivery)) == 200_000 - old
        assert session.scalar(select(func.min(SendRun.local_date))) == cutoff
        assert session.scalar(select(func.count()).select_from(SendBatch)) == (120 - old_runs) * 3
        # Erased users' rows of kept dates are still there.
        erased = select(func.count()).select_from(Delivery).where(Delivery.user_id.is_(None))
        assert session.scalar(erased) == 80000 - (old - 29 * 1000)

    commits.clear()
    again = cleanup(sessions, NOW, 90, batch_size=5000)
    assert (again.deliveries, again.batches, again.runs) == ([], [], [])
    assert len(commits) <= 3  # one empty look per table


def test_cleanup_with_nothing_to_delete_deletes_nothing(sessions: sessionmaker[Session]) -> None:
    report = cleanup(sessions, NOW, 90)
    assert report.to_dict() == {
        "cutoff": "2026-08-24", "deliveries": 0, "send_batches": 0, "send_runs": 0,
        "transactions": 0, "unfinished": False,
    }  # fmt: skip


def test_cleanup_stops_starting_transactions_when_its_time_budget_is_spent(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    old = NOW.date() - timedelta(days=100)
    with engine.begin() as conn:
        conn.execute(insert(Delivery), [_delivery(None, old, "UTC", "06:30", "sent")] * 30)
    ticks = iter([0.0, 0.0, 0.0, 99.0])  # the budget is gone after two transactions
    report = cleanup(sessions, NOW, 90, batch_size=10, budget_s=10, monotonic=lambda: next(ticks))
    assert report.deliveries == [10, 10] and report.unfinished
    assert cleanup(sessions, NOW, 90, batch_size=10).deliveries == [10]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [("abc", "not a whole number"), ("0", "greater than 0"), ("3", "at least 7")],
)
def test_a_bad_retention_days_is_one_line_naming_the_variable(raw: str, problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"PANCHANG_RETENTION_DAYS": raw})
    message = str(err.value)
    assert message.startswith(f"invalid PANCHANG_RETENTION_DAYS {raw}") or message.startswith(
        f"invalid PANCHANG_RETENTION_DAYS '{raw}'"
    )
    assert problem in message and "\n" not in message


def test_retention_days_defaults_to_90_and_round_trips_through_the_environment() -> None:
    assert Settings.from_env({}).retention_days == 90
    settings = Settings.from_env({"PANCHANG_RETENTION_DAYS": "30"})
    assert settings.retention_days == 30
    assert Settings.from_env(settings.to_env()).retention_days == 30


# --- Daily stats rollup ----------------------------------------------------------------------


def test_a_local_date_finishes_at_its_zones_midnight_plus_the_grace() -> None:
    day = date(2026, 11, 21)
    assert finished_at("Asia/Kolkata", day, GRACE) == datetime(2026, 11, 21, 21, 30, tzinfo=UTC)
    assert finished_at("Pacific/Honolulu", day, GRACE) == datetime(2026, 11, 22, 13, tzinfo=UTC)
    candidates = [("Asia/Kolkata", day), ("Pacific/Honolulu", day), ("Asia/Kolkata", day)]
    assert due_for_rollup(candidates, set(), NOW, GRACE) == [("Asia/Kolkata", day)]
    # Rolled up already: rewritten during the day after it finished, then left alone.
    done = {("Asia/Kolkata", day)}
    assert due_for_rollup(candidates, done, NOW, GRACE) == [("Asia/Kolkata", day)]
    assert due_for_rollup(candidates, done, NOW + timedelta(days=1), GRACE) == [
        ("Pacific/Honolulu", day)
    ]


def _day_of_sends(engine: Engine, sessions: sessionmaker[Session], day: date) -> None:
    kolkata = add_users(sessions, "Asia/Kolkata", "06:30", 5)
    rows = [_delivery(u, day, "Asia/Kolkata", "06:30", "read") for u in kolkata[:3]]
    rows += [_delivery(kolkata[3], day, "Asia/Kolkata", "06:30", "failed")]
    rows += [_delivery(None, day, "Asia/Kolkata", "06:30", "delivered")]  # an erased user
    rows += [_delivery(None, day, "Asia/Kolkata", "07:00", "sent")]
    rows += [_delivery(None, day, "Pacific/Honolulu", "06:30", "sent")]
    with engine.begin() as conn:
        conn.execute(insert(Delivery), rows)
    _runs(
        sessions,
        [
            ("Asia/Kolkata", "06:30", day, "failed"),
            ("Asia/Kolkata", "06:30", day, "complete"),
            ("Asia/Kolkata", "07:00", day, "complete"),
            ("Asia/Kolkata", "08:00", day, "missed"),
            ("Pacific/Honolulu", "06:30", day, None),
        ],
        batches=1,
    )


def test_rollup_counts_finished_dates_only_and_is_idempotent(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    day = date(2026, 11, 21)
    _day_of_sends(engine, sessions, day)
    first = rollup(sessions, NOW, GRACE)
    assert first.rolled_up == [("Asia/Kolkata", day)]  # Honolulu's 21st has not ended yet
    with sessions() as session:
        days = read_stats(session, day, day)
    assert [(d.timezone, d.send_time) for d in days] == [
        ("Asia/Kolkata", "06:30"), ("Asia/Kolkata", "07:00"), ("Asia/Kolkata", "08:00"),
    ]  # fmt: skip
    assert days[0].statuses == {"read": 3, "failed": 1, "delivered": 1}
    assert days[0].runs == {"failed": 1, "complete": 1}
    assert days[2].runs == {"missed": 1} and days[2].total == 0

    with sessions() as session:
        before = session.execute(
            select(DailyStat.timezone, DailyStat.send_time, DailyStat.kind, DailyStat.value,
                   DailyStat.count).order_by(DailyStat.id)
        ).all()  # fmt: skip
    assert rollup(sessions, NOW + timedelta(minutes=5), GRACE).rolled_up == [("Asia/Kolkata", day)]
    with sessions() as session:
        after = session.execute(
            select(DailyStat.timezone, DailyStat.send_time, DailyStat.kind, DailyStat.value,
                   DailyStat.count).order_by(DailyStat.id)
        ).all()  # fmt: skip
    assert sorted(after) == sorted(before)

    later = NOW + timedelta(days=2)
    assert rollup(sessions, later, GRACE).rolled_up == [("Pacific/Honolulu", day)]
    assert rollup(sessions, later, GRACE).rolled_up == []  # both past their refresh day
    with sessions() as session:
        honolulu = [d for d in read_stats(session, day, day) if d.timezone == "Pacific/Honolulu"]
    assert honolulu[0].runs == {daily_stats.NO_OUTCOME: 1}


# --- panchang report ------------------------------------------------------------------------


def test_report_prints_a_date_and_a_week_as_a_table_and_as_json(
    database_url: str, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    day = date(2026, 11, 21)  # Saturday of ISO week 2026-W47
    _day_of_sends(engine, sessions, day)
    rollup(sessions, NOW + timedelta(days=2), GRACE)

    result = cli(database_url, None, "report", "--date", "2026-11-21", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["from"], report["to"]) == ("2026-11-21", "2026-11-21")
    assert report["totals"]["total"] == 7
    assert report["totals"]["statuses"] == {"delivered": 1, "failed": 1, "read": 3, "sent": 2}
    first = report["slots"][0]
    assert first == {
        "local_date": "2026-11-21", "timezone": "Asia/Kolkata", "send_time": "06:30", "total": 5,
        "statuses": {"delivered": 1, "failed": 1, "read": 3},
        "runs": {"complete": 1, "failed": 1},
    }  # fmt: skip

    week = json.loads(cli(database_url, None, "report", "--week", "2026-W47", "--json").output)
    assert (week["from"], week["to"]) == ("2026-11-16", "2026-11-22")
    assert week["totals"] == report["totals"]

    table = cli(database_url, None, "report", "--week", "2026-W47")
    assert table.exit_code == 0, table.output
    assert "local date" in table.output and "Pacific/Honolulu" in table.output
    assert "total 7: delivered 1, failed 1, read 3, sent 2" in table.output
    empty = cli(database_url, None, "report", "--date", "2026-01-01")
    assert empty.exit_code == 0 and "no stats for 2026-01-01" in empty.output


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--week", "2026-47"], "invalid --week '2026-47': not an ISO week"),
        (["--week", "2026-W54"], "invalid --week '2026-W54': not an ISO week"),
        (["--date", "21/11/2026"], "invalid --date '21/11/2026': not a date"),
        (["--date", "2026-11-21", "--week", "2026-W47"], "invalid --week '2026-W47': give"),
    ],
)
def test_report_bad_input_is_one_line_naming_the_option(
    database_url: str, args: list[str], line: str
) -> None:
    result = cli(database_url, None, "report", *args)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [result.output.strip()]
    assert line in result.output


# --- Weekly summary --------------------------------------------------------------------------


def test_the_weekly_summary_totals_last_iso_week_and_ranks_the_worst_slots(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    assert last_iso_week(datetime(2026, 11, 23, 9, tzinfo=UTC)) == date(2026, 11, 16)
    day = date(2026, 11, 21)
    _day_of_sends(engine, sessions, day)
    rollup(sessions, NOW, GRACE)  # Honolulu's Saturday is not finished yet
    with sessions() as session:
        summary = week_summary(session, date(2026, 11, 16))
    assert summary.iso_week == "2026-W47" and summary.total == 6
    assert summary.runs == {"failed": 1, "complete": 2, "missed": 1}
    assert [(w.timezone, w.send_time) for w in summary.worst] == [
        ("Asia/Kolkata", "08:00"), ("Asia/Kolkata", "06:30"),
    ]  # fmt: skip
    assert summary.unfinished == 1
    body = summary.body()
    assert "Asia/Kolkata@06:30: 1 of 5 failed (20.0%), 0 missed" in body
    assert "1 zone-day(s) of the week had not finished yet" in body

    quiet = summarise_week([SlotDay(day, "Asia/Tokyo", "06:30", {"read": 4}, {"complete": 1})], day)
    assert quiet.worst == [] and "No slot had a final failure" in quiet.body()


def test_the_weekly_summary_goes_through_the_alert_path_once_per_week(
    sessions: sessionmaker[Session], redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core import clock
    from delivery.alerts import Alerts
    from tasks import maintenance, runtime

    notified: list[tuple[str, str]] = []
    monkeypatch.setattr(Alerts, "_notify", lambda self, title, body: notified.append((title, body)))
    monkeypatch.setattr(runtime, "sessions", lambda: sessions)
    monkeypatch.setattr(runtime, "redis_client", lambda: redis_client)
    with_alerts = Settings(database_url="sqlite://", redis_url=None, alert_urls=("json://x/y",))
    monkeypatch.setattr(runtime, "settings", lambda: with_alerts)
    with clock.frozen(datetime(2026, 11, 23, 9, tzinfo=UTC)):
        assert maintenance.weekly_summary() == {"sent": True, "week": "2026-W47", "total": 0}
        assert maintenance.weekly_summary()["sent"] is False  # a second tick: deduplicated
    assert [title for title, _ in notified] == ["panchang weekly summary 2026-W47: 0 messages"]

    without = Settings(database_url="sqlite://", redis_url=None)
    monkeypatch.setattr(runtime, "settings", lambda: without)
    assert maintenance.weekly_summary()["sent"] is False


# --- Static Beat entries ---------------------------------------------------------------------


def test_the_beat_schedule_has_the_maintenance_entries_in_utc_with_expiry() -> None:
    from celery.schedules import crontab

    from tasks.app import create_app

    plain = create_app(Settings(database_url="sqlite://", redis_url=None)).conf.beat_schedule
    assert plain["panchang:cleanup"]["task"] == "panchang.cleanup"
    assert plain["panchang:cleanup"]["schedule"] == crontab(minute=0, hour=2)
    assert plain["panchang:daily-report"]["task"] == "panchang.daily_report"
    assert plain["panchang:daily-report"]["schedule"] == crontab(minute=5)
    assert "panchang:weekly-summary" not in plain  # no alert channel, no summary
    for name in ("panchang:cleanup", "panchang:daily-report"):
        assert 0 < plain[name]["options"]["expires"] < 86400
    alerting = Settings(database_url="sqlite://", redis_url=None, alert_urls=("json://x/y",))
    weekly = create_app(alerting).conf.beat_schedule["panchang:weekly-summary"]
    assert weekly["task"] == "panchang.weekly_summary"
    assert weekly["schedule"] == crontab(minute=0, hour=9, day_of_week="mon")
    assert weekly["options"]["expires"] > 0


def test_entries_all_lists_the_statics_beside_the_slots_and_the_sync_leaves_them_alone(
    database_url: str, sessions: sessionmaker[Session], redis_url: str, redis_client: redis.Redis
) -> None:
    from scheduler.beat import ZonedRedBeatScheduler
    from tasks.app import create_app

    add_users(sessions, "Asia/Kolkata", "06:30", 2)
    app = create_app(Settings(database_url=database_url, redis_url=redis_url))
    ZonedRedBeatScheduler(app=app)  # what Beat does at start-up: store the statics
    assert cli(database_url, redis_url, "resync").exit_code == 0

    result = cli(database_url, redis_url, "entries", "--all", "--json")
    assert result.exit_code == 0, result.output
    rows: dict[str, dict[str, Any]] = {row["name"]: row for row in json.loads(result.stdout)}
    cleanup_row = rows["panchang:cleanup"]
    assert cleanup_row["kind"] == "static" and cleanup_row["status"] == "ok"
    assert cleanup_row["task"] == "panchang.cleanup"
    assert cleanup_row["schedule"] == "cron 0 2 * * * UTC"
    assert cleanup_row["last_run_at"] is None
    assert datetime.fromisoformat(cleanup_row["next_run_utc"]).hour == 2
    assert rows["panchang:daily-report"]["schedule"] == "cron 5 * * * * UTC"
    assert rows["panchang:sync"]["schedule"] == "every 600 s"
    assert rows["panchang:send:Asia/Kolkata@06:30"]["kind"] == "slot"
    assert rows["panchang:send:Asia/Kolkata@06:30"]["status"] == "ok"
    # A full sync with no users left deletes slots only.
    with sessions.begin() as session:
        session.execute(update(User).values(obsoleted_on=datetime(2026, 1, 2, tzinfo=UTC)))
    cli(database_url, redis_url, "resync")
    assert redis_client.exists("redbeat:panchang:cleanup", "redbeat:panchang:daily-report") == 2
    assert not redis_client.exists("redbeat:panchang:send:Asia/Kolkata@06:30")
    # Without --all, the listing is the slots alone, as before.
    plain = json.loads(cli(database_url, redis_url, "entries", "--json").stdout)
    assert all(row["name"].startswith("panchang:send:") for row in plain)
    table = cli(database_url, redis_url, "entries", "--all")
    assert "panchang:cleanup" in table.output and "cron 0 2 * * * UTC" in table.output
