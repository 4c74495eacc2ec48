"""`panchang send-now`: sends today's message for a slot now, through the same run path."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cli import main
from core import clock
from core.settings import Settings
from models import RunTrigger, SendRun, User

ZONE = "America/New_York"
# 15:00 in New York: far from 06:30, which a scheduled run would call missed.
AFTERNOON = datetime(2025, 7, 4, 19, 0, tzinfo=UTC)


def add_user(sessions: sessionmaker[Session], phone: str, send_time: str = "06:30") -> None:
    with sessions.begin() as session:
        session.add(
            User(
                phone=phone,
                timezone=ZONE,
                latitude=40.71,
                longitude=-74.01,
                send_time=send_time,
                created_at=AFTERNOON - timedelta(days=1),
            )
        )


def invoke(settings: Settings, *args: str) -> tuple[int, str, str]:
    runner = CliRunner()
    env = {"DATABASE_URL": settings.database_url, "PANCHANG_OUTBOX": str(settings.outbox_path)}
    with clock.frozen(AFTERNOON):
        result = runner.invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def run_count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(SendRun)) or 0


def outbox(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_send_now_sends_todays_message_to_the_slot_and_prints_a_summary(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    add_user(sessions, "+12124567890")
    add_user(sessions, "+12124567891", send_time="07:00")
    code, out, err = invoke(settings, "send-now", ZONE)
    assert (code, err) == (0, "")
    assert out.startswith(f"{ZONE}@06:30 for 2025-07-04: complete, 1 sent, 0 skipped, 0 failed")
    [line] = outbox(settings.outbox_path)
    assert (line["to"], line["local_date"]) == ("+12124567890", "2025-07-04")


def test_send_now_json_and_a_second_send_sends_nothing(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    add_user(sessions, "+12124567891", send_time="07:00")
    code, out, _ = invoke(settings, "send-now", ZONE, "--send-time", "7:00", "--json")
    assert code == 0
    assert json.loads(out) == {
        "zone": ZONE, "send_time": "07:00", "local_date": "2025-07-04",
        "outcome": "complete", "sent": 1, "skipped": 0, "failed": 0, "held": 0, "run_id": 1,
        "unreachable": 0, "deferred": 0,
    }  # fmt: skip
    code, out, _ = invoke(settings, "send-now", ZONE, "--send-time", "07:00", "--json")
    assert (code, json.loads(out)["sent"], json.loads(out)["skipped"]) == (0, 0, 1)
    assert len(outbox(settings.outbox_path)) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["send-now", "Mars/Olympus_Mons"], "invalid zone 'Mars/Olympus_Mons'"),
        (["send-now", ZONE, "--send-time", "25:00"], "invalid --send-time '25:00'"),
        (["send-now", ZONE, "--send-time", "6.30"], "invalid --send-time '6.30'"),
    ],
)
def test_send_now_with_bad_input_exits_2_with_one_line_and_writes_nothing(
    sessions: sessionmaker[Session], settings: Settings, args: list[str], message: str
) -> None:
    add_user(sessions, "+12124567890")
    code, out, err = invoke(settings, *args)
    assert code == 2
    assert out == ""
    assert err.startswith(f"Error: {message}")
    assert err.count("\n") == 1
    assert not settings.outbox_path.exists()
    assert run_count(sessions) == 0


def invoke_at(settings: Settings, at: datetime, *args: str) -> tuple[int, str, str]:
    env = {"DATABASE_URL": settings.database_url, "PANCHANG_OUTBOX": str(settings.outbox_path)}
    with clock.frozen(at):
        result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_send_now_at_0005_for_a_2345_slot_sends_the_previous_days_message(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    add_user(sessions, "+12124567892", send_time="23:45")
    # 00:05 EDT on 2025-07-05: the 23:45 of the 4th is 20 minutes ago, the next 23 h away.
    just_after_midnight = datetime(2025, 7, 5, 4, 5, tzinfo=UTC)
    code, out, _ = invoke_at(
        settings, just_after_midnight, "send-now", ZONE, "--send-time", "23:45", "--json"
    )
    assert code == 0
    assert json.loads(out)["local_date"] == "2025-07-04"
    [line] = outbox(settings.outbox_path)
    assert line["local_date"] == "2025-07-04"


def test_send_now_with_a_date_sends_that_days_message_and_refuses_far_dates(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    add_user(sessions, "+12124567893")
    code, out, _ = invoke(settings, "send-now", ZONE, "--date", "2025-07-05", "--json")
    assert (code, json.loads(out)["local_date"]) == (0, "2025-07-05")
    code, out, err = invoke(settings, "send-now", ZONE, "--date", "2025-06-01")
    assert (code, out) == (2, "")
    assert err.startswith("Error: invalid --date '2025-06-01': more than a day from today")
    code, _, err = invoke(settings, "send-now", ZONE, "--date", "5 July")
    assert code == 2 and err.startswith("Error: invalid --date '5 July'")
    assert [line["local_date"] for line in outbox(settings.outbox_path)] == ["2025-07-05"]


def test_runs_lists_each_run_with_trigger_counts_and_who_ran_it(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    import os

    add_user(sessions, "+12124567894")
    assert invoke(settings, "send-now", ZONE)[0] == 0
    code, out, _ = invoke(settings, "runs", "--json")
    assert code == 0
    [run] = json.loads(out)
    assert {k: run[k] for k in ("timezone", "send_time", "local_date", "trigger", "status")} == {
        "timezone": ZONE, "send_time": "06:30", "local_date": "2025-07-04", "trigger": "manual",
        "status": "complete",
    }  # fmt: skip
    assert (run["sent"], run["batches_done"], run["batches_total"], run["pid"]) == (
        1, 1, 1, os.getpid(),
    )  # fmt: skip
    # Started at 15:00 EDT for a 06:30 slot: 8.5 h after its time.
    assert run["scheduled_at"] == "2025-07-04T10:30:00+00:00"
    assert run["lag_s"] == 8.5 * 3600
    code, out, _ = invoke(settings, "runs")
    assert code == 0
    assert "America/New_York@06:30  2025-07-04  manual   complete  8 h 30 min" in out
    # Other dates and zones filter it out.
    assert json.loads(invoke(settings, "runs", "--json", "--date", "2025-07-03")[1]) == []
    assert json.loads(invoke(settings, "runs", "--json", "--zone", "Asia/Tokyo")[1]) == []


def test_runs_shows_a_silent_run_as_stale_before_the_reconciler_abandons_it(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    from delivery.slot_run import plan_run

    add_user(sessions, "+12124567895")
    started = AFTERNOON - timedelta(seconds=settings.claim_lease_s + 30)
    with clock.frozen(started):
        plan_run(sessions, settings, ZONE, "06:30", started, trigger=RunTrigger.MANUAL)
    [run] = json.loads(invoke(settings, "runs", "--json")[1])
    assert (run["status"], run["outcome"], run["last_report_age_s"]) == (
        "stale", None, settings.claim_lease_s + 30,
    )  # fmt: skip


def test_send_now_queue_hands_the_batches_to_the_workers_and_returns(
    sessions: sessionmaker[Session], settings: Settings, redis_url: str, redis_client: Any
) -> None:
    for n in range(5):
        add_user(sessions, f"+1212456780{n}")
    env = {
        "DATABASE_URL": settings.database_url, "PANCHANG_OUTBOX": str(settings.outbox_path),
        "REDIS_URL": redis_url, "PANCHANG_SEND_BATCH_SIZE": "2",
    }  # fmt: skip
    with clock.frozen(AFTERNOON):
        result = CliRunner().invoke(main, ["send-now", ZONE, "--queue", "--json"], env=env)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["outcome"], summary["sent"]) == ("running", 0)  # the workers send it
    queued = [json.loads(raw)["headers"] for raw in redis_client.lrange("celery", 0, -1)]
    assert [h["task"] for h in queued] == ["panchang.send_batch"] * 3  # 5 users, 2 a batch
    assert not settings.outbox_path.exists()


def test_send_now_on_a_slot_with_no_users_says_so_and_records_no_run(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    add_user(sessions, "+12124567890", send_time="07:00")  # another slot of the zone
    code, out, _ = invoke(settings, "send-now", ZONE, "--send-time", "06:30")
    assert (code, out) == (0, "America/New_York@06:30 has no active users: nothing to send\n")
    code, out, _ = invoke(settings, "send-now", ZONE, "--send-time", "06:30", "--json")
    summary = json.loads(out)
    assert (code, summary["outcome"], summary["local_date"], summary["run_id"]) == (
        0, "no_users", "2025-07-04", None)  # fmt: skip
    assert run_count(sessions) == 0
    assert outbox(settings.outbox_path) == []
