"""A crontab that carries its IANA zone, so Beat evaluates it at local wall-clock time.

Celery's `crontab.remaining_delta` moves `last_run_at` and now into `self.tz` before matching
fields, so overriding `tz` is all it takes for Beat to fire at 06:30 local, DST included. The
zone must survive the trip through Redis; `scheduler.codec` makes sure it does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from celery.schedules import crontab

from core import validate


class ZonedCrontab(crontab):
    """`crontab` evaluated in `zone` (an IANA key) instead of the app's time zone."""

    def __init__(self, *args: Any, zone: str, **kwargs: Any) -> None:
        self.zone = validate.zone(zone, "schedule zone")
        super().__init__(*args, **kwargs)

    @classmethod
    def daily(cls, zone: str, send_time: str) -> ZonedCrontab:
        """Every day at local 'HH:MM' in `zone`."""
        hour, minute = validate.send_time(send_time).split(":")
        return cls(minute=str(int(minute)), hour=str(int(hour)), zone=zone)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    def next_run_after(self, moment: datetime) -> datetime:
        """The first fire strictly after the aware instant `moment`, as an aware UTC datetime.

        This is the arithmetic Beat does (`remaining` with the crontab's ffwd), with "now"
        taken as `moment`, so it answers "when does this fire next" for any clock.
        """
        start, delta, _ = self.remaining_delta(moment)
        return (start + delta).astimezone(UTC)

    def fields(self) -> dict[str, str]:
        """The five cron fields as given (what goes into Redis)."""
        return {
            "minute": str(self._orig_minute),
            "hour": str(self._orig_hour),
            "day_of_week": str(self._orig_day_of_week),
            "day_of_month": str(self._orig_day_of_month),
            "month_of_year": str(self._orig_month_of_year),
        }

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.fields(), self.zone))

    def __repr__(self) -> str:
        f = self.fields()
        return (
            f"<zoned crontab: {f['minute']} {f['hour']} {f['day_of_week']} "
            f"{f['day_of_month']} {f['month_of_year']} in {self.zone}>"
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ZonedCrontab):
            return self.zone == other.zone and self.fields() == other.fields()
        if isinstance(other, crontab):
            # Same fields, different clock: a plain crontab runs in the app's zone (UTC).
            # Python asks the subclass first, so `plain == zoned` lands here too.
            return False
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return hash((self.zone, tuple(self.fields().values())))


def _rebuild(fields: dict[str, str], zone: str) -> ZonedCrontab:
    return ZonedCrontab(zone=zone, **fields)
