"""`panchang send-now`: sends today's message for a slot now, through the same run path."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cli import main
from core import clock
from core.settings import Settings
from models import SendRun, User

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
    add_user(sessions, "+12125550100")
    add_user(sessions, "+12125550101", send_time="07:00")
    code, out, err = invoke(settings, "send-now", ZONE)
    assert (code, err) == (0, "")
    assert out.startswith(f"{ZONE}@06:30 for 2025-07-04: complete, 1 sent, 0 skipped, 0 failed")
    [line] = outbox(settings.outbox_path)
    assert (line["to"], line["local_date"]) == ("+12125550100", "2025-07-04")


def test_send_now_json_and_a_second_send_sends_nothing(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    add_user(sessions, "+12125550101", send_time="07:00")
    code, out, _ = invoke(settings, "send-now", ZONE, "--send-time", "7:00", "--json")
    assert code == 0
    assert json.loads(out) == {
        "zone": ZONE, "send_time": "07:00", "local_date": "2025-07-04",
        "outcome": "complete", "sent": 1, "skipped": 0, "failed": 0, "held": 0, "run_id": 1,
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
    add_user(sessions, "+12125550100")
    code, out, err = invoke(settings, *args)
    assert code == 2
    assert out == ""
    assert err.startswith(f"Error: {message}")
    assert err.count("\n") == 1
    assert not settings.outbox_path.exists()
    assert run_count(sessions) == 0
