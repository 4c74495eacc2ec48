"""The zoned crontab fires at local wall-clock time in every IANA zone, DST days included."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from celery import Celery

from scheduler.zoned import ZonedCrontab

START = datetime(2025, 1, 1, tzinfo=UTC)
DAYS = 731  # 2025-01-01 .. 2027-01-01: two full years of DST changes everywhere
ALL_ZONES = sorted(zoneinfo.available_timezones())
APP = Celery("zoned-test", set_as_current=False)
APP.conf.update(timezone="UTC", enable_utc=True)


def expected_fire(zone: ZoneInfo, day: date, at: time) -> datetime:
    """Where Beat must fire: the local wall time; in a DST gap, shifted forward by the gap
    (fold=0 reads a missing time with the offset before the change); in an overlap, the
    first of the two occurrences."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def fires(schedule: ZonedCrontab, start: datetime, count: int) -> list[datetime]:
    out, moment = [], start
    for _ in range(count):
        moment = schedule.next_run_after(moment)
        out.append(moment)
    return out


def test_entry_fires_at_0630_local_once_per_local_day_in_every_zone_for_two_years() -> None:
    assert len(ALL_ZONES) > 500  # tzdata is installed: this really is every zone
    wrong: list[str] = []
    for key in ALL_ZONES:
        zone = ZoneInfo(key)
        schedule = ZonedCrontab.daily(key, "06:30")
        schedule.app = APP
        first_local_day = START.astimezone(zone).date()
        if START.astimezone(zone).time() >= time(6, 30):
            first_local_day += timedelta(days=1)
        got = fires(schedule, START, DAYS)
        for n, fire in enumerate(got):
            day = first_local_day + timedelta(days=n)
            if fire != expected_fire(zone, day, time(6, 30)):
                wrong.append(f"{key} {day}: fired {fire.astimezone(zone).isoformat()}")
                break
        local_days = [f.astimezone(zone).date() for f in got]
        if len(set(local_days)) != DAYS:
            wrong.append(f"{key}: {DAYS} fires fell on {len(set(local_days))} local days")
    assert wrong == []


def dst_change_days(zone: ZoneInfo) -> list[date]:
    """Local dates in 2025-2026 on which the zone's UTC offset changes."""
    days = []
    for n in range(DAYS):
        day_start, day_end = START + timedelta(days=n), START + timedelta(days=n + 1)
        if day_start.astimezone(zone).utcoffset() == day_end.astimezone(zone).utcoffset():
            continue
        # Find the hour of the change within that UTC day, then take its local date.
        moment = day_start
        while moment.astimezone(zone).utcoffset() == day_start.astimezone(zone).utcoffset():
            moment += timedelta(hours=1)
        days.append(moment.astimezone(zone).date())
    return days


ZONES_WITH_CHANGES = [k for k in ALL_ZONES if dst_change_days(ZoneInfo(k))]


@pytest.mark.parametrize("send_time", ["00:30", "01:30", "02:30", "06:30"])
def test_beat_is_due_exactly_at_local_time_on_every_dst_change_day(send_time: str) -> None:
    """Drive the schedule the way Beat does (is_due with a clock) around each change day."""
    assert len(ZONES_WITH_CHANGES) > 100
    at = time.fromisoformat(send_time)
    wrong: list[str] = []
    for key in ZONES_WITH_CHANGES:
        zone = ZoneInfo(key)
        for day in dst_change_days(zone):
            clock = {"now": datetime.combine(day - timedelta(days=1), time(12), tzinfo=zone)}
            schedule = ZonedCrontab.daily(key, send_time)
            schedule.app = APP
            schedule.nowfun = lambda c=clock: c["now"]
            last_run = clock["now"].astimezone(UTC)
            target = expected_fire(zone, day, at)
            if target <= last_run:
                continue
            clock["now"] = target - timedelta(seconds=1)
            due_before, _ = schedule.is_due(last_run)
            clock["now"] = target
            due_at, _ = schedule.is_due(last_run)
            # After firing, the next fire is the next local day: never twice on the change day.
            clock["now"] = target + timedelta(hours=3)
            due_again, _ = schedule.is_due(target)
            if due_before or not due_at or due_again:
                wrong.append(f"{key} {day} {send_time}: {due_before=} {due_at=} {due_again=}")
    assert wrong == []


def test_time_in_spring_forward_gap_fires_once_an_hour_later() -> None:
    schedule = ZonedCrontab.daily("America/New_York", "02:30")
    schedule.app = APP
    ny = ZoneInfo("America/New_York")
    got = fires(schedule, datetime(2026, 3, 7, 12, tzinfo=UTC), 3)
    assert [f.astimezone(ny).strftime("%m-%d %H:%M %Z") for f in got] == [
        "03-08 03:30 EDT",  # 02:30 does not exist that day: once, at 03:30
        "03-09 02:30 EDT",
        "03-10 02:30 EDT",
    ]


def test_time_in_fall_back_overlap_fires_once_at_first_occurrence() -> None:
    schedule = ZonedCrontab.daily("America/New_York", "01:30")
    schedule.app = APP
    ny = ZoneInfo("America/New_York")
    got = fires(schedule, datetime(2026, 10, 31, 12, tzinfo=UTC), 2)
    assert [f.astimezone(ny).strftime("%m-%d %H:%M %Z") for f in got] == [
        "11-01 01:30 EDT",  # 01:30 happens twice; only the first fires
        "11-02 01:30 EST",
    ]


def test_zone_is_validated_when_the_schedule_is_built() -> None:
    with pytest.raises(ValueError, match="Mars/Olympus_Mons"):
        ZonedCrontab.daily("Mars/Olympus_Mons", "06:30")
