"""Which local day a run of a slot is for: the occurrence of its wall time nearest to now.

Pure arithmetic on aware datetimes; no I/O and no clock. Beat sends a slot's task at its local
time, but the worker may start it a little early (clock skew between machines) or very late (a
backlog, an outage), so "today at the moment the code runs" is the wrong day near midnight. The
day a run serves is that of the occurrence nearest to it, before or after: a run 2 s early
still serves today, and a run far too late is a missed run to record, never yesterday's message
sent today. With the grace period under 11 hours (settings enforce it) and occurrences 23 to 25
hours apart, the occurrence within grace of a run is unique.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from core import validate

_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Occurrence:
    """One occurrence of a slot's wall time.

    `instant` is aware UTC; `local_date` is the date in the zone the occurrence belongs to;
    `offset_s` is `now - instant` in seconds: positive when the run is late, negative early.
    """

    instant: datetime
    local_date: date
    offset_s: float

    def is_missed(self, late_grace_s: float) -> bool:
        """True when the run is more than `late_grace_s` seconds away from this occurrence."""
        return abs(self.offset_s) > late_grace_s


@lru_cache(maxsize=1024)
def _zone(key: str) -> ZoneInfo:
    return ZoneInfo(key)


@lru_cache(maxsize=1440)
def _wall_time(send_time: str) -> time:
    return validate.send_time_of(send_time)


# Pure, and asked for the same few dates of every slot each minute (the reconciler), so cached:
# about 2,500 slots times the 3 or 4 dates around today (BENCHMARKS.md, send reconciler).
@lru_cache(maxsize=16384)
def occurrence_on(zone: str, send_time: str, local_date: date) -> datetime:
    """The aware UTC instant at which `send_time` ('HH:MM') happens on `local_date` in `zone`.

    fold=0 is what Celery's crontab does: a wall time inside a spring-forward gap (02:30 in
    New York) lands one gap-length later (03:30 local), and one inside a fall-back overlap is
    its first occurrence.
    """
    wall = datetime.combine(local_date, _wall_time(send_time), tzinfo=_zone(zone))
    return wall.astimezone(UTC)


def local_today(zone: str, now: datetime) -> date:
    """The calendar date in `zone` at the aware instant `now`."""
    return now.astimezone(_zone(zone)).date()


def occurrence_of(zone: str, send_time: str, local_date: date, now: datetime) -> Occurrence:
    """The occurrence of `send_time` on `local_date` in `zone`, with its offset from `now`."""
    instant = occurrence_on(zone, send_time, local_date)
    return Occurrence(instant, local_date, (now.astimezone(UTC) - instant).total_seconds())


@lru_cache(maxsize=16384)
def _real_occurrence_on(zone: str, send_time: str, local_date: date) -> datetime | None:
    """`occurrence_on`, or None when `local_date` never appears on the zone's clocks (Apia
    skipped 2011-12-30): its wall time then lands on the next date, which owns it."""
    instant = occurrence_on(zone, send_time, local_date)
    return instant if local_today(zone, instant) == local_date else None


def previous_occurrence(zone: str, send_time: str, at: datetime) -> Occurrence:
    """The latest occurrence of `send_time` in `zone` at or before the aware instant `at`."""
    if at.tzinfo is None:
        raise ValueError("previous_occurrence() needs an aware `at`")
    at_utc = at.astimezone(UTC)
    today = local_today(zone, at_utc)
    for candidate in (today + _ONE_DAY, today, today - _ONE_DAY, today - 2 * _ONE_DAY):
        instant = _real_occurrence_on(zone, send_time, candidate)
        if instant is not None and instant <= at_utc:
            return Occurrence(instant, candidate, (at_utc - instant).total_seconds())
    raise AssertionError(f"no occurrence of {send_time} in {zone} in the two days before {at}")


def nearest_occurrence(zone: str, send_time: str, now: datetime) -> Occurrence:
    """The occurrence of `send_time` in `zone` nearest to the aware instant `now`.

    Occurrences are 23 to 25 hours apart, so the local dates yesterday, today and tomorrow
    (as seen in the zone at `now`) always contain the nearest one.
    """
    if now.tzinfo is None:
        raise ValueError("nearest_occurrence() needs an aware `now`")
    now_utc = now.astimezone(UTC)
    today = local_today(zone, now_utc)
    best: Occurrence | None = None
    for candidate in (today - _ONE_DAY, today, today + _ONE_DAY):
        instant = occurrence_on(zone, send_time, candidate)
        occ = Occurrence(instant, candidate, (now_utc - instant).total_seconds())
        if best is None or abs(occ.offset_s) < abs(best.offset_s):
            best = occ
        elif occ.instant == best.instant and local_today(zone, instant) == candidate:
            # A date that does not exist in the zone (Pacific/Apia skipped 2011-12-30) maps
            # onto the same instant as the next day: that instant belongs to the real date.
            best = occ
    assert best is not None
    return best
