"""`panchang users ...` end to end through click, against SQLite and Postgres."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, text

import cli
import subscribers.commands
from scheduler.slots import Slot

HEADER = "phone,timezone,latitude,longitude,city,send_time\n"
VIEW_KEYS = [
    "id", "phone", "timezone", "send_time", "latitude", "longitude", "city", "active", "status",
    "language",
]  # fmt: skip


@pytest.fixture
def resyncs(monkeypatch: pytest.MonkeyPatch) -> list[set[Slot]]:
    """The slot sets handed to `_after_user_change`, one per successful change."""
    calls: list[set[Slot]] = []
    monkeypatch.setattr(
        subscribers.commands, "_after_user_change", lambda _obj, slots: calls.append(set(slots))
    )
    return calls


def users(database_url: str, *args: str) -> Result:
    return CliRunner().invoke(cli.main, ["--database-url", database_url, "users", *args])


def add(database_url: str, phone: str = "+919876543210", *extra: str) -> Result:
    result = users(
        database_url, "add", "--phone", phone, "--tz", "Asia/Kolkata", "--lat", "12.97",
        "--lon", "77.59", *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return result


def listed(database_url: str) -> list[dict[str, Any]]:
    result = users(database_url, "list", "--json")
    assert result.exit_code == 0, result.stderr
    return list(json.loads(result.stdout))


def snapshot(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return [
            list(conn.execute(text(f"SELECT * FROM {table} ORDER BY id")))
            for table in ("user_detail", "city_detail")
        ]


def assert_one_line_error(result: Result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


# --- add ------------------------------------------------------------------------------------


def test_users_add_prints_the_new_user_and_resyncs_its_slot(
    database_url: str, resyncs: list[set[Slot]]
) -> None:
    result = add(database_url, "+919876543210", "--city", "Bengaluru")
    assert result.stdout.strip() == (
        "added user 1 +919876543210: Asia/Kolkata at 06:30, lat 12.97 lon 77.59, "
        "city Bengaluru, language en"
    )
    assert resyncs == [{Slot("Asia/Kolkata", "06:30")}]


def test_users_add_json_prints_the_user_view(database_url: str) -> None:
    result = add(database_url, "+919876543210", "--send-time", "5:45", "--json")
    assert json.loads(result.stdout) == {
        "id": 1,
        "phone": "+919876543210",
        "timezone": "Asia/Kolkata",
        "send_time": "05:45",
        "latitude": 12.97,
        "longitude": 77.59,
        "city": None,
        "active": True,
        "status": "active",
        "language": "en",
    }


def test_users_add_takes_negative_coordinates(database_url: str) -> None:
    result = users(
        database_url, "add", "--phone", "+5511987654321", "--tz", "America/Sao_Paulo",
        "--lat", "-23.55", "--lon", "-46.63", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["latitude"] == -23.55


@pytest.mark.parametrize(
    ("option", "value", "field"),
    [
        ("--tz", "Asia/Bombay2", "timezone"),
        ("--phone", "9876543210", "phone"),
        ("--phone", "+91 98765 4321", "phone"),  # one digit short
        ("--lat", "91", "latitude"),
        ("--lat", "twelve", "latitude"),
        ("--lon", "-181", "longitude"),
        ("--send-time", "6:75", "send_time"),
    ],
)
def test_users_add_with_bad_input_names_field_and_value_exits_2_and_writes_nothing(
    database_url: str,
    engine: Engine,
    resyncs: list[set[Slot]],
    option: str,
    value: str,
    field: str,
) -> None:
    add(database_url, "+919800000001", "--city", "Mysuru")
    before = snapshot(engine)
    args = {"--phone": "+919800000002", "--tz": "Asia/Kolkata", "--lat": "1", "--lon": "2"}
    args[option] = value
    flat = [part for pair in args.items() for part in pair]
    result = users(database_url, "add", *flat, "--city", "Hubli")
    assert_one_line_error(result, 2, field, repr(value))
    assert snapshot(engine) == before
    assert len(resyncs) == 1  # only the setup add


def test_users_add_with_a_taken_phone_names_it_exits_2_and_writes_nothing(
    database_url: str, engine: Engine
) -> None:
    add(database_url, "+919876543210")
    before = snapshot(engine)
    result = users(
        database_url, "add", "--phone", "+919876543210", "--tz", "Asia/Kolkata", "--lat",
        "15.36", "--lon", "75.12", "--city", "Hubli",
    )  # fmt: skip
    assert_one_line_error(result, 2, "'+919876543210'", "already registered")
    assert snapshot(engine) == before


# --- update and deactivate ------------------------------------------------------------------


def test_users_update_changes_the_user_and_resyncs_old_and_new_slot(
    database_url: str, resyncs: list[set[Slot]]
) -> None:
    add(database_url, "+919876543210", "--city", "Bengaluru")
    result = users(
        database_url, "update", "1", "--tz", "Asia/Kathmandu", "--send-time", "07:15",
        "--lat", "27.7", "--lon", "85.3", "--city", "Kathmandu", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "id": 1,
        "phone": "+919876543210",
        "timezone": "Asia/Kathmandu",
        "send_time": "07:15",
        "latitude": 27.7,
        "longitude": 85.3,
        "city": "Kathmandu",
        "active": True,
        "status": "active",
        "language": "en",
    }
    assert resyncs[-1] == {Slot("Asia/Kolkata", "06:30"), Slot("Asia/Kathmandu", "07:15")}
    assert users(database_url, "update", "1", "--send-time", "8:00").stdout.startswith(
        "updated user 1 +919876543210: Asia/Kathmandu at 08:00"
    )


@pytest.mark.parametrize(
    ("option", "value", "field"),
    [
        ("--tz", "Kathmandu", "timezone"),
        ("--send-time", "0730", "send_time"),
        ("--lat", "-90.5", "latitude"),
        ("--lon", "200", "longitude"),
    ],
)
def test_users_update_with_bad_input_names_field_and_value_exits_2_and_writes_nothing(
    database_url: str,
    engine: Engine,
    resyncs: list[set[Slot]],
    option: str,
    value: str,
    field: str,
) -> None:
    add(database_url)
    before = snapshot(engine)
    result = users(database_url, "update", "1", "--city", "Hubli", option, value)
    assert_one_line_error(result, 2, field, repr(value))
    assert snapshot(engine) == before
    assert len(resyncs) == 1


@pytest.mark.parametrize("command", ["update", "deactivate"])
def test_users_commands_on_an_unknown_id_exit_2_and_write_nothing(
    database_url: str, engine: Engine, command: str
) -> None:
    add(database_url)
    before = snapshot(engine)
    extra = ["--tz", "Europe/London"] if command == "update" else []
    assert_one_line_error(users(database_url, command, "42", *extra), 2, "user 42 not found")
    assert snapshot(engine) == before


def test_users_deactivate_makes_the_user_inactive_and_resyncs_its_slot(
    database_url: str, resyncs: list[set[Slot]]
) -> None:
    add(database_url, "+919876543210", "--send-time", "06:00")
    add(database_url, "+919876543211")
    result = users(database_url, "deactivate", "1")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "deactivated user 1 +919876543210"
    assert resyncs[-1] == {Slot("Asia/Kolkata", "06:00")}
    assert [(u["id"], u["active"]) for u in listed(database_url)] == [(1, False), (2, True)]


def test_users_deactivate_twice_is_an_error_that_changes_nothing(
    database_url: str, engine: Engine
) -> None:
    add(database_url)
    assert users(database_url, "deactivate", "1").exit_code == 0
    before = snapshot(engine)
    assert_one_line_error(users(database_url, "deactivate", "1"), 2, "already inactive")
    assert snapshot(engine) == before


# --- list -----------------------------------------------------------------------------------


def test_users_list_json_is_a_list_of_user_objects_filtered_by_zone(database_url: str) -> None:
    add(database_url, "+919876543210", "--city", "Bengaluru")
    users(
        database_url, "add", "--phone", "+447400100123", "--tz", "Europe/London",
        "--lat", "51.5", "--lon", "-0.12",
    )  # fmt: skip
    everyone = listed(database_url)
    assert [list(u) for u in everyone] == [VIEW_KEYS, VIEW_KEYS]
    assert [(u["phone"], u["city"], u["active"]) for u in everyone] == [
        ("+919876543210", "Bengaluru", True),
        ("+447400100123", None, True),
    ]
    london = users(database_url, "list", "--tz", "Europe/London", "--json")
    assert [u["phone"] for u in json.loads(london.stdout)] == ["+447400100123"]
    assert json.loads(users(database_url, "list", "--tz", "Asia/Tokyo", "--json").stdout) == []


def test_users_list_prints_a_table_for_people(database_url: str) -> None:
    add(database_url, "+919876543210", "--city", "Bengaluru")
    users(database_url, "deactivate", "1")
    lines = users(database_url, "list").stdout.splitlines()
    assert " ".join(lines[0].split()) == "id phone timezone send time lat lon city lang status"
    assert lines[2].split() == [
        "1", "+919876543210", "Asia/Kolkata", "06:30", "12.97", "77.59", "Bengaluru", "en",
        "inactive",
    ]  # fmt: skip


def test_an_unreachable_user_is_listed_so_and_reactivate_makes_them_active_again(
    database_url: str, resyncs: list[set[Slot]], engine: Engine
) -> None:
    from datetime import UTC, datetime

    from models.db import session_factory
    from subscribers.registry import mark_unreachable

    add(database_url, "+919876543210")
    with session_factory(engine).begin() as session:
        assert mark_unreachable(session, 1, 131026, datetime(2026, 11, 22, tzinfo=UTC))
    [view] = listed(database_url)
    assert (view["status"], view["active"]) == ("unreachable", True)
    done = users(database_url, "reactivate", "1")
    assert (done.exit_code, done.stdout) == (0, "reactivated user 1 +919876543210\n")
    assert resyncs[-1] == {Slot("Asia/Kolkata", "06:30")}
    assert listed(database_url)[0]["status"] == "active"
    assert_one_line_error(users(database_url, "reactivate", "1"), 2, "already active")
    # One who left comes back the same way.
    users(database_url, "deactivate", "1")
    assert users(database_url, "reactivate", "1").exit_code == 0
    assert listed(database_url)[0]["status"] == "active"


def test_users_list_with_an_unknown_zone_exits_2(database_url: str) -> None:
    assert_one_line_error(users(database_url, "list", "--tz", "Mars/Olympus"), 2, "'Mars/Olympus'")


# --- import ---------------------------------------------------------------------------------


def test_users_import_inserts_good_rows_reports_bad_lines_and_exits_1(
    database_url: str, tmp_path: Path, resyncs: list[set[Slot]]
) -> None:
    add(database_url, "+919999999999")
    csv_file = tmp_path / "users.csv"
    csv_file.write_text(
        HEADER
        + "+447400100001,Europe/London,51.5,-0.12,London,\n"  # 2 ok
        + "+447400100002,Europe/Lonon,51.5,-0.12,,\n"  # 3 bad zone
        + "+447400100003,Europe/London,0\n"  # 4 column count
        + "+447400100001,Europe/London,51.5,0,,\n"  # 5 duplicate in file
        + "+919999999999,Asia/Kolkata,15.36,75.12,,\n"  # 6 already in the database
        + "+14155992000,America/Los_Angeles,37.77,-122.42,,05:45\n"  # 7 ok
    )
    result = users(database_url, "import", str(csv_file))
    assert result.exit_code == 1
    assert result.stdout.strip() == "added 2, updated 0, skipped 1, rejected 3"
    errors = result.stderr.strip().splitlines()
    assert [e.split(":")[0] for e in errors] == ["line 3", "line 4", "line 5", "line 6"]
    assert "'Europe/Lonon'" in errors[0]
    assert "expected 6 columns" in errors[1]
    assert "duplicate phone '+447400100001'" in errors[2]
    assert errors[3].startswith("line 6: skipped: phone '+919999999999' is already registered")
    assert resyncs[-1] == {Slot("Europe/London", "06:30"), Slot("America/Los_Angeles", "05:45")}
    assert [u["phone"] for u in listed(database_url)] == [
        "+919999999999",
        "+447400100001",
        "+14155992000",
    ]


def test_users_import_of_a_clean_file_exits_0_and_json_reports_it(
    database_url: str, tmp_path: Path
) -> None:
    csv_file = tmp_path / "users.csv"
    # A byte-order mark, as spreadsheets write it, must not spoil the header.
    csv_file.write_text("\ufeff" + HEADER + "+447400100001,Europe/London,51.5,-0.12,,\n")
    result = users(database_url, "import", str(csv_file), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "added": 1,
        "updated": 0,
        "skipped": [],
        "rejected": [],
        "warnings": [],
        "slots": [{"zone": "Europe/London", "send_time": "06:30"}],
    }


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("phone,timezone,lat,lon,city,send_time\n+447400100001,UTC,0,0,,\n", "CSV header"),
        ("", "CSV header"),
        (HEADER.encode() + b"+4474001000\xff1,UTC,0,0,,\n", "not UTF-8"),
        (None, "No such file"),
    ],
)
def test_users_import_of_a_bad_file_exits_2_and_writes_nothing(
    database_url: str,
    engine: Engine,
    tmp_path: Path,
    resyncs: list[set[Slot]],
    content: str | bytes | None,
    fragment: str,
) -> None:
    add(database_url)
    before = snapshot(engine)
    csv_file = tmp_path / "users.csv"
    if isinstance(content, bytes):
        csv_file.write_bytes(content)
    elif content is not None:
        csv_file.write_text(content)
    assert_one_line_error(users(database_url, "import", str(csv_file)), 2, fragment)
    assert snapshot(engine) == before
    assert len(resyncs) == 1
