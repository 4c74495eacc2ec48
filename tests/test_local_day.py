"""Which local day a run is for: the occurrence of the send time nearest to now."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from delivery.local_day import local_today, nearest_occurrence, occurrence_on
from scheduler.zoned import ZonedCrontab

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


def beat_fires(zone: str, send_time: str, first: date, until: date) -> list[datetime]:
    """The instants Beat fires a daily `send_time` entry in `zone`, as aware UTC datetimes.

    Celery's own crontab arithmetic (`ZonedCrontab.next_run_after`, what Beat computes each
    time an entry has run) chained from local midnight of `first`, up to and including the
    first fire on or after local date `until`. Nothing here uses `delivery.local_day`.
    """
    tz = ZoneInfo(zone)
    schedule = ZonedCrontab.daily(zone, send_time)
    moment = datetime(first.year, first.month, first.day, tzinfo=tz)
    fires: list[datetime] = []
    while not fires or fires[-1].astimezone(tz).date() < until:
        moment = schedule.next_run_after(moment)
        fires.append(moment)
    return fires


def dates_shown(zone: str, start: datetime, end: datetime) -> set[date]:
    """Every local date the zone's clocks show at some whole minute from `start` to `end`."""
    tz = ZoneInfo(zone)
    minutes = int((end - start).total_seconds() // 60)
    return {(start + timedelta(minutes=m)).astimezone(tz).date() for m in range(minutes + 1)}


def test_every_zone_every_day_of_a_year_0630_is_served_on_its_own_day() -> None:
    # The oracle is Beat's crontab arithmetic, not the wall-time formula under test: the fire
    # instants come from chaining `next_run_after`, and only their local dates are read back.
    first, until = date(2025, 1, 1), date(2026, 1, 1)
    zones_with_an_offset_change: set[str] = set()
    checked = 0
    for zone in sorted(zoneinfo.available_timezones()):
        tz = ZoneInfo(zone)
        fires = beat_fires(zone, "06:30", first, until)
        days = [fire.astimezone(tz).date() for fire in fires]
        assert days[0] == first, zone
        assert days[-1] >= until, zone
        for n, (fire, day) in enumerate(zip(fires, days, strict=True)):
            # Alternate early and late so both sides are covered without doubling the work.
            skew_s = 3 if n % 2 == 0 else -3
            occ = nearest_occurrence(zone, "06:30", fire + timedelta(seconds=skew_s))
            assert (occ.local_date, occ.offset_s, occ.instant) == (day, skew_s, fire), (zone, fire)
            assert occurrence_on(zone, "06:30", day) == fire, (zone, day)
            checked += 1
        for (before, day_before), (after, day_after) in pairwise(zip(fires, days, strict=True)):
            # One fire per local date: never the same date twice, and a date passed over only
            # when the zone's clocks never show it (Pacific/Apia skipped 2011-12-30).
            assert day_after > day_before, (zone, day_before, day_after)
            passed_over = {
                day_before + timedelta(days=k) for k in range(1, (day_after - day_before).days)
            }
            if passed_over:
                assert not passed_over & dates_shown(zone, before, after), (zone, passed_over)
            if before.astimezone(tz).utcoffset() != after.astimezone(tz).utcoffset():
                zones_with_an_offset_change.add(zone)
    # The year does cross DST changes, including a half-hour one, so those days were covered.
    assert {"America/New_York", "Europe/London", "Australia/Lord_Howe"} <= (
        zones_with_an_offset_change
    )
    assert checked >= 365 * len(zoneinfo.available_timezones())


def test_with_the_largest_grace_allowed_a_late_or_early_run_still_finds_its_own_day() -> None:
    """Settings refuse a grace of 11 h or more; just under it, a run that late (or that early)
    must still belong to its own occurrence, in every zone, DST change days included: the
    neighbouring occurrences are at least 23 h away."""
    from core.settings import MAX_LATE_GRACE_S

    grace = timedelta(seconds=MAX_LATE_GRACE_S - 1)
    for zone in sorted(zoneinfo.available_timezones()):
        tz = ZoneInfo(zone)
        for fire in beat_fires(zone, "02:30", date(2025, 1, 1), date(2026, 1, 1)):
            day = fire.astimezone(tz).date()
            late = nearest_occurrence(zone, "02:30", fire + grace)
            early = nearest_occurrence(zone, "02:30", fire - grace)
            assert (late.local_date, early.local_date) == (day, day), (zone, fire)
            assert not late.is_missed(MAX_LATE_GRACE_S - 1)
