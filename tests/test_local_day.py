"""Which local day a run is for: the occurrence of the send time nearest to now."""

from __future__ import annotations

import time
import zoneinfo
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from delivery.local_day import local_today, nearest_occurrence, occurrence_on

GRACE_S = 10800


def at(zone: str, *wall: int) -> datetime:
    """The UTC instant of a local wall time (fold=0)."""
    return datetime(*wall, tzinfo=ZoneInfo(zone)).astimezone(UTC)  # type: ignore[arg-type,misc]


def test_run_two_seconds_early_serves_today() -> None:
    now = at("Asia/Kolkata", 2025, 1, 15, 6, 29, 58)
    occ = nearest_occurrence("Asia/Kolkata", "06:30", now)
    assert occ.local_date == date(2025, 1, 15)
    assert occ.offset_s == -2
    assert not occ.is_missed(GRACE_S)


def test_run_two_seconds_late_serves_today() -> None:
    occ = nearest_occurrence("Asia/Kolkata", "06:30", at("Asia/Kolkata", 2025, 1, 15, 6, 30, 2))
    assert (occ.local_date, occ.offset_s) == (date(2025, 1, 15), 2)
    assert not occ.is_missed(GRACE_S)


def test_run_exactly_at_grace_still_serves_and_one_second_more_is_missed() -> None:
    base = at("Asia/Kolkata", 2025, 1, 15, 6, 30)
    assert not nearest_occurrence("Asia/Kolkata", "06:30", base + timedelta(hours=3)).is_missed(
        GRACE_S
    )
    late = nearest_occurrence("Asia/Kolkata", "06:30", base + timedelta(hours=3, seconds=1))
    assert late.local_date == date(2025, 1, 15)
    assert late.offset_s == 3 * 3600 + 1
    assert late.is_missed(GRACE_S)


def test_run_far_too_late_is_missed_not_yesterdays_message_today() -> None:
    # 12 h late is nearer to no occurrence within grace: a missed run, whichever day is nearest.
    occ = nearest_occurrence("Asia/Kolkata", "06:30", at("Asia/Kolkata", 2025, 1, 15, 18, 0))
    assert occ.is_missed(GRACE_S)


def test_send_time_before_midnight_run_after_midnight_is_for_the_day_before() -> None:
    now = at("Europe/London", 2025, 6, 2, 0, 0, 1)
    occ = nearest_occurrence("Europe/London", "23:59", now)
    assert occ.local_date == date(2025, 6, 1)
    assert occ.offset_s == 61
    assert local_today("Europe/London", now) == date(2025, 6, 2)


def test_send_time_after_midnight_run_before_midnight_is_for_the_next_day() -> None:
    occ = nearest_occurrence("Europe/London", "00:01", at("Europe/London", 2025, 6, 1, 23, 59, 59))
    assert (occ.local_date, occ.offset_s) == (date(2025, 6, 2), -61)


def test_gap_time_on_spring_forward_day_resolves_to_an_hour_later_like_crontab() -> None:
    # New York 2025-03-09: 02:00 EST jumps to 03:00 EDT; 02:30 does not exist.
    instant = occurrence_on("America/New_York", "02:30", date(2025, 3, 9))
    assert instant == datetime(2025, 3, 9, 7, 30, tzinfo=UTC)  # 03:30 EDT
    occ = nearest_occurrence("America/New_York", "02:30", instant - timedelta(seconds=2))
    assert (occ.local_date, occ.instant) == (date(2025, 3, 9), instant)


def test_overlap_time_on_fall_back_day_uses_the_first_occurrence() -> None:
    # New York 2025-11-02: 01:30 happens at 05:30 UTC (EDT) and again at 06:30 UTC (EST).
    instant = occurrence_on("America/New_York", "01:30", date(2025, 11, 2))
    assert instant == datetime(2025, 11, 2, 5, 30, tzinfo=UTC)
    second = nearest_occurrence(
        "America/New_York", "01:30", datetime(2025, 11, 2, 6, 30, 1, tzinfo=UTC)
    )
    assert second.local_date == date(2025, 11, 2)
    assert second.offset_s == 3601


def test_half_hour_dst_shift_in_lord_howe_gap_and_overlap() -> None:
    zone = "Australia/Lord_Howe"
    # 2025-10-05 02:00 +10:30 jumps to 02:30 +11:00; 02:15 is in the gap.
    gap = occurrence_on(zone, "02:15", date(2025, 10, 5))
    assert gap == datetime(2025, 10, 4, 15, 45, tzinfo=UTC)  # 02:45 +11:00
    assert nearest_occurrence(zone, "02:15", gap + timedelta(seconds=3)).local_date == date(
        2025, 10, 5
    )
    # 2025-04-06 02:00 +11:00 falls back to 01:30 +10:30; 01:45 happens twice, first at +11.
    overlap = occurrence_on(zone, "01:45", date(2025, 4, 6))
    assert overlap == datetime(2025, 4, 5, 14, 45, tzinfo=UTC)
    occ = nearest_occurrence(zone, "01:45", overlap - timedelta(seconds=3))
    assert (occ.local_date, occ.offset_s) == (date(2025, 4, 6), -3)


def test_a_skipped_calendar_day_is_served_by_the_day_that_exists() -> None:
    # Pacific/Apia skipped 2011-12-30 when it crossed the date line.
    now = datetime(2011, 12, 30, 16, 30, 5, tzinfo=UTC)  # 2011-12-31 06:30:05 +14
    assert nearest_occurrence("Pacific/Apia", "06:30", now).local_date == date(2011, 12, 31)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError):
        nearest_occurrence("UTC", "06:30", datetime(2025, 1, 1, 6, 30))


def test_every_zone_every_day_of_a_year_0630_is_served_on_its_own_day() -> None:
    started = time.perf_counter()
    zones = sorted(zoneinfo.available_timezones())
    days = [date(2025, 1, 1) + timedelta(days=n) for n in range(365)]
    checked = 0
    for zone in zones:
        tz = ZoneInfo(zone)
        for n, day in enumerate(days):
            # The instant Celery's zoned crontab fires 06:30 that day: fold=0 wall time.
            fire = datetime(day.year, day.month, day.day, 6, 30, tzinfo=tz).astimezone(UTC)
            # Alternate early and late so both sides are covered without doubling the work.
            skew_s = -3 if n % 2 else 3
            occ = nearest_occurrence(zone, "06:30", fire + timedelta(seconds=skew_s))
            assert occ.local_date == day, (zone, day)
            assert occ.offset_s == skew_s, (zone, day)
            checked += 1
    assert checked == len(zones) * len(days)
    assert time.perf_counter() - started < 60
