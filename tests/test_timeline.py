"""`panchang timeline`: slot occurrences within a UTC date, at their real UTC fire times.

The expected UTC times are written out by hand from each zone's offsets on the day (DST change
days, half- and quarter-hour zones, +13:45/+14 and -11), not computed by the code under test.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy.orm import Session, sessionmaker

from cli import main
from core import clock
from models import SendRun, User
from ops.timeline import (
    NOT_RUN,
    RUNNING,
    RunSeen,
    TimelineRow,
    load_timeline,
    occurrence_status,
    timeline_rows,
)
from ops.timeline_chart import figure_size_px, svg_for_day, timeline_svg
from tests.helpers import add_users

D = date.fromisoformat

# (zone, send time, UTC date) -> every occurrence within that UTC date, as
# (UTC time, local date it serves, wall time it fires at, offset).
KNOWN: list[tuple[str, str, str, list[tuple[str, str, str, str]]]] = [
    # New York springs forward at 02:00 EST on 2026-03-08 (-05:00 -> -04:00).
    ("America/New_York", "06:30", "2026-03-08", [("10:30", "2026-03-08", "06:30", "-04:00")]),
    ("America/New_York", "06:30", "2026-03-07", [("11:30", "2026-03-07", "06:30", "-05:00")]),
    # 02:30 does not exist that night: it fires one hour later, at 03:30 EDT, as Beat does.
    ("America/New_York", "02:30", "2026-03-08", [("07:30", "2026-03-08", "03:30", "-04:00")]),
    # The evening before's 23:30 EST is 04:30 UTC on the 8th; the 8th's own is on the 9th.
    ("America/New_York", "23:30", "2026-03-08", [("04:30", "2026-03-07", "23:30", "-05:00")]),
    # 19:30 is 00:30 UTC next day in EST and 23:30 UTC the same day in EDT: twice on the 8th...
    (
        "America/New_York",
        "19:30",
        "2026-03-08",
        [("00:30", "2026-03-07", "19:30", "-05:00"), ("23:30", "2026-03-08", "19:30", "-04:00")],
    ),
    # ...and not at all on the UTC day New York falls back (2026-11-01).
    ("America/New_York", "19:30", "2026-11-01", []),
    # London: GMT -> BST at 01:00 UTC on 2026-03-29.
    ("Europe/London", "06:30", "2026-03-29", [("05:30", "2026-03-29", "06:30", "+01:00")]),
    # 00:30 GMT on the 29th is 00:30 UTC; 00:30 BST on the 30th is 23:30 UTC: twice.
    (
        "Europe/London",
        "00:30",
        "2026-03-29",
        [("00:30", "2026-03-29", "00:30", "+00:00"), ("23:30", "2026-03-30", "00:30", "+01:00")],
    ),
    ("Europe/London", "01:30", "2026-03-29", [("01:30", "2026-03-29", "02:30", "+01:00")]),
    # Berlin: CET -> CEST at 01:00 UTC on 2026-03-29.
    ("Europe/Berlin", "06:30", "2026-03-29", [("04:30", "2026-03-29", "06:30", "+02:00")]),
    ("Europe/Berlin", "06:30", "2026-03-28", [("05:30", "2026-03-28", "06:30", "+01:00")]),
    # 00:30 local is the previous UTC evening: the 30th's (CEST) is 22:30 UTC on the 29th.
    ("Europe/Berlin", "00:30", "2026-03-29", [("22:30", "2026-03-30", "00:30", "+02:00")]),
    ("Europe/Berlin", "00:30", "2026-03-28", [("23:30", "2026-03-29", "00:30", "+01:00")]),
    # Sydney: AEDT (+11) -> AEST (+10) at 03:00 local on 2026-04-05 (16:00 UTC on the 4th).
    ("Australia/Sydney", "06:30", "2026-04-05", [("20:30", "2026-04-06", "06:30", "+10:00")]),
    ("Australia/Sydney", "06:30", "2026-04-04", [("20:30", "2026-04-05", "06:30", "+10:00")]),
    ("Australia/Sydney", "06:30", "2026-04-03", [("19:30", "2026-04-04", "06:30", "+11:00")]),
    ("Australia/Sydney", "10:30", "2026-04-05", [("00:30", "2026-04-05", "10:30", "+10:00")]),
    # 10:30 AEDT on the 4th is 23:30 UTC on the 3rd: nothing of this slot on the 4th.
    ("Australia/Sydney", "10:30", "2026-04-04", []),
    # 02:30 on the 5th happens twice; the first (AEDT) is the one: 15:30 UTC on the 4th.
    ("Australia/Sydney", "02:30", "2026-04-04", [("15:30", "2026-04-05", "02:30", "+11:00")]),
    ("Asia/Kolkata", "06:30", "2026-03-08", [("01:00", "2026-03-08", "06:30", "+05:30")]),
    ("Asia/Kolkata", "04:00", "2026-03-08", [("22:30", "2026-03-09", "04:00", "+05:30")]),
    ("Asia/Kathmandu", "06:30", "2026-03-29", [("00:45", "2026-03-29", "06:30", "+05:45")]),
    ("Asia/Kathmandu", "05:30", "2026-03-29", [("23:45", "2026-03-30", "05:30", "+05:45")]),
    # Chatham: +13:45 in (southern) summer, +12:45 from 03:45 local on 2026-04-05.
    ("Pacific/Chatham", "06:30", "2026-03-08", [("16:45", "2026-03-09", "06:30", "+13:45")]),
    ("Pacific/Chatham", "06:30", "2026-04-04", [("17:45", "2026-04-05", "06:30", "+12:45")]),
    ("Pacific/Chatham", "06:30", "2026-04-03", [("16:45", "2026-04-04", "06:30", "+13:45")]),
    # Kiritimati (+14): the morning is the previous UTC afternoon; 14:30 is 00:30 the same day.
    ("Pacific/Kiritimati", "06:30", "2026-03-08", [("16:30", "2026-03-09", "06:30", "+14:00")]),
    ("Pacific/Kiritimati", "14:30", "2026-03-08", [("00:30", "2026-03-08", "14:30", "+14:00")]),
    # Pago Pago (-11): the evening is the next UTC morning.
    ("Pacific/Pago_Pago", "06:30", "2026-03-08", [("17:30", "2026-03-08", "06:30", "-11:00")]),
    ("Pacific/Pago_Pago", "18:00", "2026-03-08", [("05:00", "2026-03-07", "18:00", "-11:00")]),
]


@pytest.mark.parametrize(
    ("zone", "send_time", "day", "expected"),
    KNOWN,
    ids=[f"{zone}@{t}-on-{day}" for zone, t, day, _ in KNOWN],
)
def test_rows_fire_at_the_real_utc_time_of_each_local_date(
    zone: str, send_time: str, day: str, expected: list[tuple[str, str, str, str]]
) -> None:
    rows = timeline_rows({(zone, send_time): 3}, [], D(day))

    got = [(f"{r.utc:%H:%M}", r.local_date.isoformat(), r.local_time, r.utc_offset) for r in rows]
    assert got == expected
    for row in rows:
        assert row.utc.date() == D(day) and row.utc.tzinfo is not None
        assert (row.zone, row.send_time, row.users, row.status) == (zone, send_time, 3, NOT_RUN)


def test_rows_of_many_slots_come_in_utc_order() -> None:
    slots = {
        ("Pacific/Kiritimati", "06:30"): 1,
        ("Asia/Kolkata", "06:30"): 5,
        ("Asia/Colombo", "06:30"): 2,
        ("Pacific/Pago_Pago", "18:00"): 4,
        ("Asia/Kathmandu", "06:30"): 3,
    }

    rows = timeline_rows(slots, [], D("2026-03-08"))

    assert [(f"{r.utc:%H:%M}", r.zone) for r in rows] == [
        ("00:45", "Asia/Kathmandu"),
        ("01:00", "Asia/Colombo"),  # same instant: by zone name
        ("01:00", "Asia/Kolkata"),
        ("05:00", "Pacific/Pago_Pago"),
        ("16:30", "Pacific/Kiritimati"),
    ]


PROPERTY_DATES = [
    "2026-03-08",  # US spring forward
    "2026-03-29",  # EU spring forward
    "2026-04-05",  # Australia, New Zealand, Chatham fall back
    "2026-10-25",  # EU fall back
    "2026-11-01",  # US fall back
    "2026-06-21",
    "2011-12-30",  # the date Samoa (Pacific/Apia) skipped
]
PROPERTY_TIMES = ["00:00", "00:30", "01:30", "02:30", "06:30", "12:00", "23:30", "23:59"]


@pytest.mark.parametrize("day", PROPERTY_DATES)
def test_every_zone_fires_its_send_time_on_its_local_date_within_the_utc_date(day: str) -> None:
    """For every zone the tz database knows: each row's instant, back in its zone, is the send
    time on the row's local date (or, inside a spring-forward gap, one gap later), lies within
    the UTC date, and the rows are exactly the occurrences in that date, found here
    independently from two days either side."""
    utc_day = D(day)
    zones = sorted(zoneinfo.available_timezones())
    slots = {(zone, t): 1 for zone in zones for t in PROPERTY_TIMES}
    start = datetime.combine(utc_day, time(0), tzinfo=UTC)
    end = start + timedelta(days=1)

    rows = timeline_rows(slots, [], utc_day)

    by_slot: dict[tuple[str, str], list[TimelineRow]] = {}
    for row in rows:
        by_slot.setdefault((row.zone, row.send_time), []).append(row)
        tz = zoneinfo.ZoneInfo(row.zone)
        assert start <= row.utc < end, row
        local = row.utc.astimezone(tz)
        assert local.date() == row.local_date, row
        assert f"{local:%H:%M}" == row.local_time, row
        wanted = datetime.combine(row.local_date, time.fromisoformat(row.send_time), tzinfo=tz)
        if local.replace(tzinfo=None) != wanted.replace(tzinfo=None):
            # Only a wall time that does not exist may move, and by exactly the gap.
            assert wanted.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != wanted.replace(
                tzinfo=None
            ), row
            moved = local.replace(tzinfo=None) - wanted.replace(tzinfo=None)
            assert moved == local.utcoffset() - wanted.utcoffset() > timedelta(0), row

    for zone in zones:
        tz = zoneinfo.ZoneInfo(zone)
        for t in PROPERTY_TIMES:
            expected = []
            for shift in range(-2, 3):
                local_date = utc_day + timedelta(days=shift)
                instant = datetime.combine(local_date, time.fromisoformat(t), tzinfo=tz).astimezone(
                    UTC
                )
                # A date the zone never had (Apia's 2011-12-30) owns no occurrence.
                if start <= instant < end and instant.astimezone(tz).date() == local_date:
                    expected.append((instant, local_date))
            got = [(r.utc, r.local_date) for r in by_slot.get((zone, t), [])]
            assert got == expected, (zone, t)


def test_apia_skipped_date_owns_no_occurrence() -> None:
    # Samoa jumped from 2011-12-29 23:59 (-10) to 2011-12-31 00:00 (+14): the 30th never was.
    rows = timeline_rows({("Pacific/Apia", "06:30"): 1}, [], D("2011-12-30"))

    assert [(f"{r.utc:%H:%M}", r.local_date.isoformat()) for r in rows] == [("16:30", "2011-12-31")]


def _run(
    zone: str, send_time: str, local_date: str, outcome: str | None, minute: int, run_id: int = 0
) -> RunSeen:
    started = datetime(2026, 3, 8, 1, minute, tzinfo=UTC)
    return RunSeen(zone, send_time, D(local_date), outcome, started, run_id)


def test_occurrence_status_complete_wins_else_latest_run_else_running_or_not_run() -> None:
    z, t, d = "Asia/Kolkata", "06:30", "2026-03-08"
    assert occurrence_status([]) == NOT_RUN
    assert occurrence_status([_run(z, t, d, None, 1)]) == RUNNING
    assert occurrence_status([_run(z, t, d, "failed", 1), _run(z, t, d, "complete", 5)]) == (
        "complete"
    )
    # A later manual run that failed does not undo the morning's complete run.
    assert occurrence_status([_run(z, t, d, "complete", 1), _run(z, t, d, "failed", 9)]) == (
        "complete"
    )
    assert occurrence_status([_run(z, t, d, "failed", 1), _run(z, t, d, "abandoned", 3)]) == (
        "abandoned"
    )
    assert occurrence_status([_run(z, t, d, "halted", 3), _run(z, t, d, "missed", 2)]) == "halted"


def test_runs_colour_the_occurrence_of_their_local_date_only() -> None:
    day = D("2026-03-08")
    runs = [
        # Kiritimati's occurrence on the 8th UTC serves its 9th; a run for its 8th is the day
        # before's (16:30 UTC on the 7th) and must not colour this one.
        _run("Pacific/Kiritimati", "06:30", "2026-03-08", "complete", 0),
        _run("Pacific/Pago_Pago", "18:00", "2026-03-07", "missed", 0),
        _run("Asia/Kolkata", "06:30", "2026-03-08", "failed", 0, 1),
        _run("Asia/Kolkata", "06:30", "2026-03-08", "complete", 9, 2),
        # A slot whose users have all left: its run still shows, with 0 users.
        _run("Asia/Colombo", "06:30", "2026-03-08", "halted", 0),
    ]
    slots = {
        ("Pacific/Kiritimati", "06:30"): 2,
        ("Pacific/Pago_Pago", "18:00"): 3,
        ("Asia/Kolkata", "06:30"): 4,
    }

    rows = timeline_rows(slots, runs, day)

    assert [(r.zone, r.local_date.isoformat(), r.users, r.status, r.runs) for r in rows] == [
        ("Asia/Colombo", "2026-03-08", 0, "halted", 1),
        ("Asia/Kolkata", "2026-03-08", 4, "complete", 2),
        ("Pacific/Pago_Pago", "2026-03-07", 3, "missed", 1),
        ("Pacific/Kiritimati", "2026-03-09", 2, NOT_RUN, 0),
    ]


# --- From the database -----------------------------------------------------------------------

NOW = datetime(2026, 3, 8, 12, 0, tzinfo=UTC)


def _add_run(
    sessions: sessionmaker[Session], zone: str, send_time: str, local_date: str, outcome: str | None
) -> None:
    with sessions.begin() as session:
        session.add(
            SendRun(
                timezone=zone,
                send_time=send_time,
                local_date=D(local_date),
                started_at=NOW - timedelta(hours=11),
                heartbeat_at=NOW - timedelta(hours=11),
                outcome=outcome,
                sent=0,
                skipped=0,
                failed=0,
            )
        )


def _populate(sessions: sessionmaker[Session]) -> None:
    add_users(sessions, "Asia/Kolkata", "06:30", count=3)
    add_users(sessions, "America/New_York", "06:30", count=2)
    add_users(sessions, "Pacific/Kiritimati", "06:30", count=1)
    add_users(sessions, "Pacific/Pago_Pago", "18:00", count=1)
    # Not counted: one who left, one WhatsApp cannot reach.
    add_users(sessions, "Asia/Kolkata", "06:30", obsoleted_on=NOW - timedelta(days=1))
    (unreachable,) = add_users(sessions, "America/New_York", "06:30")
    with sessions.begin() as session:
        session.get_one(User, unreachable).unreachable_at = NOW - timedelta(days=2)
    _add_run(sessions, "Asia/Kolkata", "06:30", "2026-03-08", "complete")
    _add_run(sessions, "Pacific/Pago_Pago", "18:00", "2026-03-07", "missed")
    # Outside the day: New York's run of the 7th fired on the 7th UTC.
    _add_run(sessions, "America/New_York", "06:30", "2026-03-07", "failed")


def test_load_timeline_counts_sendable_users_and_reads_the_runs(
    sessions: sessionmaker[Session],
) -> None:
    _populate(sessions)

    with sessions() as session:
        rows = load_timeline(session, D("2026-03-08"), NOW)

    assert [(f"{r.utc:%H:%M}", r.zone, r.users, r.status) for r in rows] == [
        ("01:00", "Asia/Kolkata", 3, "complete"),
        ("05:00", "Pacific/Pago_Pago", 1, "missed"),
        ("10:30", "America/New_York", 2, NOT_RUN),
        ("16:30", "Pacific/Kiritimati", 1, NOT_RUN),
    ]
    with sessions() as session:
        svg = svg_for_day(session, D("2026-03-08"), NOW)
    assert svg.lstrip().startswith("<?xml") and "Pacific/Kiritimati 06:30" in svg


# --- The command -----------------------------------------------------------------------------


def invoke(database_url: str, *args: str) -> Result:
    with clock.frozen(NOW):
        return CliRunner().invoke(
            main, ["--database-url", database_url, "timeline", *args], catch_exceptions=False
        )


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_command_writes_a_png_of_the_expected_size(
    sessions: sessionmaker[Session], database_url: str, tmp_path: Path
) -> None:
    _populate(sessions)
    out = tmp_path / "day.png"

    result = invoke(database_url, "--date", "2026-03-08", "--out", str(out))

    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"wrote {out} (4 occurrences on 2026-03-08 UTC)"
    data = out.read_bytes()
    assert _png_size(data) == (1600, 800) == figure_size_px(4)
    # Decodable, not just a header: matplotlib reads back a 1600x800 RGBA image.
    from matplotlib import image

    assert image.imread(out).shape == (800, 1600, 4)


def test_figure_grows_wider_with_many_occurrences_up_to_a_cap() -> None:
    assert figure_size_px(0) == (1600, 800)
    assert figure_size_px(200) == (2600, 800)
    assert figure_size_px(5000) == (8000, 800)


def test_command_writes_an_svg_with_a_text_label_per_slot(
    sessions: sessionmaker[Session], database_url: str, tmp_path: Path
) -> None:
    _populate(sessions)
    out = tmp_path / "day.svg"

    result = invoke(database_url, "--date", "2026-03-08", "--out", str(out))

    assert result.exit_code == 0, result.stderr
    root = ET.fromstring(out.read_bytes())
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = {"".join(el.itertext()) for el in root.iter("{http://www.w3.org/2000/svg}text")}
    assert {
        "Asia/Kolkata 06:30",
        "Pacific/Pago_Pago 18:00 (-1d)",
        "America/New_York 06:30",
        "Pacific/Kiritimati 06:30 (+1d)",
    } <= texts
    # The legend names the statuses present.
    assert {"complete", "missed", NOT_RUN} <= texts


def test_svg_of_the_same_rows_is_the_same_text() -> None:
    rows = timeline_rows({("Asia/Kolkata", "06:30"): 1}, [], D("2026-03-08"))
    assert timeline_svg(rows, D("2026-03-08")) == timeline_svg(rows, D("2026-03-08"))


def test_command_prints_a_table_by_default_for_today_in_utc(
    sessions: sessionmaker[Session], database_url: str
) -> None:
    _populate(sessions)

    result = invoke(database_url)  # NOW is 2026-03-08 12:00 UTC

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "utc", "zone", "local", "time", "local", "date", "offset", "users", "status", "runs",
    ]  # fmt: skip
    assert [line.split() for line in lines[2:]] == [
        ["01:00", "Asia/Kolkata", "06:30", "2026-03-08", "+05:30", "3", "complete", "1"],
        ["05:00", "Pacific/Pago_Pago", "18:00", "2026-03-07", "-11:00", "1", "missed", "1"],
        ["10:30", "America/New_York", "06:30", "2026-03-08", "-04:00", "2", "not", "run", "0"],
        ["16:30", "Pacific/Kiritimati", "06:30", "2026-03-09", "+14:00", "1", "not", "run", "0"],
    ]


def test_command_table_shows_a_send_time_moved_by_a_dst_gap(
    sessions: sessionmaker[Session], database_url: str
) -> None:
    add_users(sessions, "America/New_York", "02:30")

    result = invoke(database_url, "--date", "2026-03-08")

    assert result.exit_code == 0, result.stderr
    assert "07:30  America/New_York  02:30 (fires 03:30, DST gap)" in result.stdout


def test_command_says_so_when_nothing_fires(database_url: str) -> None:
    result = invoke(database_url, "--date", "2026-03-08")

    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "no slot fires on 2026-03-08 (UTC)"


def test_command_json(sessions: sessionmaker[Session], database_url: str) -> None:
    _populate(sessions)

    result = invoke(database_url, "--date", "2026-03-08", "--json")

    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["utc_date"] == "2026-03-08"
    assert data["rows"][1] == {
        "utc": "2026-03-08T05:00:00+00:00",
        "zone": "Pacific/Pago_Pago",
        "send_time": "18:00",
        "local_date": "2026-03-07",
        "local_time": "18:00",
        "utc_offset": "-11:00",
        "users": 1,
        "status": "missed",
        "runs": 1,
    }
    assert [(r["zone"], r["status"]) for r in data["rows"]] == [
        ("Asia/Kolkata", "complete"),
        ("Pacific/Pago_Pago", "missed"),
        ("America/New_York", NOT_RUN),
        ("Pacific/Kiritimati", NOT_RUN),
    ]


@pytest.mark.parametrize("bad", ["2026-13-08", "08/03/2026", "yesterday"])
def test_bad_date_is_one_line_naming_the_option_and_value(database_url: str, bad: str) -> None:
    result = invoke(database_url, "--date", bad)

    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "--date" in lines[0] and repr(bad) in lines[0]


def test_out_with_another_suffix_is_refused_before_anything_is_written(
    database_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "day.pdf"

    result = invoke(database_url, "--out", str(out))

    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: invalid --out {str(out)!r}: must end in .png or .svg"
    assert not out.exists()


def test_cli_does_not_import_matplotlib_until_it_draws() -> None:
    # Every other command starts without paying for matplotlib.
    code = "import sys, cli; print('matplotlib' in sys.modules)"
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert out.stdout.strip() == "False"
