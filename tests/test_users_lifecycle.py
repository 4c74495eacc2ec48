"""The subscriber lifecycle as an operator meets it: numbers as people type them, zones from
the coordinates, languages, re-imports, `users show` and erasure (SQLite and Postgres)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

import cli
from delivery import ledger
from models import InboundMessage
from tests.test_users_cli import assert_one_line_error, listed, resyncs, snapshot, users

__all__ = ["resyncs"]  # the fixture, imported for the tests below
AT = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def add_json(database_url: str, *args: str) -> dict[str, Any]:
    return dict(json.loads(ok(users(database_url, "add", *args, "--json")).stdout))


@pytest.mark.parametrize(
    "typed", ["+91 98765 43210", "+91-98765-43210", "(+91) 98765-43210", "+919876543210"]
)
def test_numbers_as_people_type_them_are_stored_in_e164(database_url: str, typed: str) -> None:
    user = add_json(database_url, "--phone", typed, "--lat", "12.97", "--lon", "77.59")
    assert user["phone"] == "+919876543210"


def test_a_number_without_country_code_needs_region_and_invalid_numbers_are_refused(
    database_url: str, engine: Engine
) -> None:
    before = snapshot(engine)
    place = ["--lat", "51.5072", "--lon", "-0.1276"]
    assert_one_line_error(users(database_url, "add", "--phone", "+4477009", *place), 2,
                          "phone", "'+4477009'")  # fmt: skip
    assert_one_line_error(users(database_url, "add", "--phone", "07911 123456", *place), 2,
                          "phone", "'07911 123456'", "country code")  # fmt: skip
    assert snapshot(engine) == before
    user = add_json(database_url, "--phone", "07911 123456", "--region", "GB", *place)
    assert (user["phone"], user["timezone"]) == ("+447911123456", "Europe/London")


def test_the_zone_comes_from_the_coordinates_unless_given_and_a_disagreement_warns(
    database_url: str,
) -> None:
    # Kathmandu: +5:45, found from the coordinates.
    kathmandu = add_json(database_url, "--phone", "+9779841234567", "--lat", "27.7172",
                         "--lon", "85.3240")  # fmt: skip
    assert kathmandu["timezone"] == "Asia/Kathmandu"
    # A link name is stored as its zone: one slot, not two.
    calcutta = add_json(database_url, "--phone", "+919830012345", "--tz", "Asia/Calcutta",
                        "--lat", "22.5726", "--lon", "88.3639")  # fmt: skip
    assert calcutta["timezone"] == "Asia/Kolkata"
    # Given a zone the coordinates disagree with: stored as given, with a warning.
    result = ok(users(database_url, "add", "--phone", "+919845012345", "--tz", "Asia/Dubai",
                      "--lat", "12.97", "--lon", "77.59"))  # fmt: skip
    assert "Warning: timezone Asia/Dubai is not the zone at latitude 12.97" in result.stderr
    assert "(Asia/Kolkata)" in result.stderr
    assert [u["timezone"] for u in listed(database_url)][-1] == "Asia/Dubai"


@pytest.mark.parametrize(
    ("zone", "fragment"),
    [
        ("UTC", "not a place's time zone"),
        ("Etc/GMT-5", "not a place's time zone"),
        ("EST", "'EST'"),
        ("asia/kolkata", "did you mean 'Asia/Kolkata'?"),
        ("Asia/Kolkatta", "did you mean 'Asia/Kolkata'?"),
    ],
)
def test_zones_that_are_no_place_are_refused_and_near_misses_get_a_suggestion(
    database_url: str, engine: Engine, zone: str, fragment: str
) -> None:
    before = snapshot(engine)
    result = users(database_url, "add", "--phone", "+919876543210", "--tz", zone,
                   "--lat", "12.97", "--lon", "77.59")  # fmt: skip
    assert_one_line_error(result, 2, "timezone", fragment)
    assert snapshot(engine) == before


def test_at_sea_without_a_zone_is_refused_naming_the_coordinates(database_url: str) -> None:
    result = users(database_url, "add", "--phone", "+919876543210", "--lat", "0", "--lon", "-30")
    assert_one_line_error(result, 2, "timezone", "latitude 0.0, longitude -30.0")


def test_language_is_set_on_add_and_update_and_listed(database_url: str) -> None:
    add_json(database_url, "--phone", "+919876543210", "--lat", "28.61", "--lon", "77.21",
             "--lang", "hi")  # fmt: skip
    add_json(database_url, "--phone", "+919876543211", "--lat", "28.61", "--lon", "77.21")
    assert [u["language"] for u in listed(database_url)] == ["hi", "en"]
    ok(users(database_url, "update", "2", "--lang", "Hindi"))
    assert [u["language"] for u in listed(database_url)] == ["hi", "hi"]
    assert_one_line_error(users(database_url, "update", "2", "--lang", "fr"), 2, "language", "'fr'")
    table = ok(users(database_url, "list")).stdout.splitlines()
    assert table[2].split()[-2:] == ["hi", "active"]


def test_show_prints_one_user_with_their_last_messages(
    database_url: str, sessions: sessionmaker[Session]
) -> None:
    add_json(database_url, "--phone", "+919876543210", "--lat", "12.97", "--lon", "77.59",
             "--city", "Bengaluru")  # fmt: skip
    with sessions.begin() as session:
        ledger.ensure_rows(session, [1], date(2026, 11, 22), "Asia/Kolkata", "06:30", AT)
    shown = json.loads(ok(users(database_url, "show", "1", "--json")).stdout)
    assert (shown["phone"], shown["city"], shown["status"]) == ("+919876543210", "Bengaluru",
                                                                "active")  # fmt: skip
    assert shown["recent_deliveries"] == [
        {"local_date": "2026-11-22", "status": "pending", "error_code": None, "message_id": None}
    ]
    people = ok(users(database_url, "show", "1")).stdout
    assert "phone" in people and "+919876543210" in people and "2026-11-22" in people
    assert_one_line_error(users(database_url, "show", "9"), 2, "user 9 not found")


def test_delete_erases_the_user_but_the_ledger_keeps_its_counts(
    database_url: str, sessions: sessionmaker[Session], engine: Engine,
    resyncs: list[Any],
) -> None:  # fmt: skip
    add_json(database_url, "--phone", "+919876543210", "--lat", "12.97", "--lon", "77.59")
    with sessions.begin() as session:
        ledger.ensure_rows(session, [1], date(2026, 11, 22), "Asia/Kolkata", "06:30", AT)
        session.add(InboundMessage(message_id="wamid.IN1", phone="+919876543210",
                                   received_at=AT, command="stop", outcome="stopped"))  # fmt: skip
    # Without --yes it asks, and a "no" changes nothing.
    refused = CliRunner().invoke(cli.main, ["--database-url", database_url, "users", "delete",
                                            "1"], input="n\n")  # fmt: skip
    assert refused.exit_code == 1 and listed(database_url) != []
    assert ok(users(database_url, "delete", "1", "--yes")).stdout.strip() == (
        "deleted user 1 +919876543210"
    )
    assert listed(database_url) == []
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT user_id, status FROM delivery")).all()
        inbound = conn.execute(text("SELECT count(*) FROM inbound_message")).scalar()
    assert [tuple(r) for r in rows] == [(None, "pending")]
    assert inbound == 0
    assert [sorted(map(str, s)) for s in resyncs][-1] == [
        "Slot(zone='Asia/Kolkata', send_time='06:30')"
    ]
    deliveries = CliRunner().invoke(cli.main, ["--database-url", database_url, "deliveries",
                                               "--json"])  # fmt: skip
    assert [(d["user_id"], d["phone"]) for d in json.loads(deliveries.stdout)] == [(None, None)]


def test_import_infers_zones_reads_languages_and_can_run_again(
    database_url: str, tmp_path: Path
) -> None:
    csv_file = tmp_path / "users.csv"
    # Columns in another order, no timezone column, national numbers with --region.
    csv_file.write_text(
        "latitude,longitude,phone,city,language\n"
        "27.7172,85.3240,+977 984-1234567,Kathmandu,hi\n"
        "-43.9535,-176.5597,+64 21 123 4567,Waitangi,\n"  # Chatham Islands, +12:45
        "22.5726,88.3639,098300 12345,Kolkata,en\n"
    )
    first = ok(users(database_url, "import", str(csv_file), "--region", "IN", "--json"))
    report = json.loads(first.stdout)
    assert (report["added"], report["updated"], report["skipped"], report["rejected"]) == (
        3, 0, [], [])  # fmt: skip
    assert [(u["phone"], u["timezone"], u["language"]) for u in listed(database_url)] == [
        ("+9779841234567", "Asia/Kathmandu", "hi"),
        ("+64211234567", "Pacific/Chatham", "en"),
        ("+919830012345", "Asia/Kolkata", "en"),
    ]
    # Imported again: every row is reported and skipped; exit 0; nothing changes.
    again = ok(users(database_url, "import", str(csv_file), "--region", "IN"))
    assert again.stdout.strip() == "added 0, updated 0, skipped 3, rejected 0"
    assert again.stderr.count("skipped: phone") == 3


def test_import_on_existing_update_applies_the_cells_a_row_fills(
    database_url: str, tmp_path: Path, resyncs: list[Any]
) -> None:
    add_json(database_url, "--phone", "+919876543210", "--lat", "12.97", "--lon", "77.59",
             "--send-time", "05:45")  # fmt: skip
    csv_file = tmp_path / "users.csv"
    csv_file.write_text(
        "phone,timezone,latitude,longitude,city,send_time,language\n"
        "+919876543210,,28.6139,77.2090,New Delhi,,hi\n"  # moves; keeps 05:45
        "+919876543299,Asia/Kolkata,19.076,72.8777,Mumbai,,\n"  # new
    )
    result = ok(users(database_url, "import", str(csv_file), "--on-existing", "update"))
    assert result.stdout.strip() == "added 1, updated 1, skipped 0, rejected 0"
    first, second = listed(database_url)
    assert (first["latitude"], first["city"], first["send_time"], first["language"]) == (
        28.6139, "New Delhi", "05:45", "hi")  # fmt: skip
    assert second["city"] == "Mumbai"
    # The same file again: the user is as the row says, so it is skipped as unchanged.
    again = ok(users(database_url, "import", str(csv_file), "--on-existing", "update"))
    assert again.stdout.strip() == "added 0, updated 0, skipped 2, rejected 0"


def test_import_with_a_zone_unlike_the_coordinates_warns_by_line(
    database_url: str, tmp_path: Path
) -> None:
    csv_file = tmp_path / "users.csv"
    csv_file.write_text("phone,timezone,latitude,longitude\n+919876543210,Asia/Dubai,12.97,77.59\n")
    result = ok(users(database_url, "import", str(csv_file)))
    assert "line 2: warning: timezone Asia/Dubai is not the zone" in result.stderr
    assert listed(database_url)[0]["timezone"] == "Asia/Dubai"


def test_a_row_stored_before_zones_were_checked_can_still_be_updated(
    database_url: str, sessions: sessionmaker[Session], resyncs: list[Any]
) -> None:
    from tests.helpers import add_users

    # The old web app wrote 'UTC' and a link name straight into the table.
    [utc] = add_users(sessions, "UTC", lat=51.5072, lon=-0.1276)
    [calcutta] = add_users(sessions, "Asia/Calcutta", lat=22.5726, lon=88.3639)
    moved = ok(users(database_url, "update", str(utc), "--lat", "51.51", "--lon", "-0.13"))
    assert "Warning: timezone UTC is not the zone at latitude 51.51" in moved.stderr
    # A link name of the zone the coordinates are in is the same zone: no warning.
    same = ok(users(database_url, "update", str(calcutta), "--lat", "22.57"))
    assert "Warning: timezone" not in same.stderr
