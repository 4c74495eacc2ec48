"""Parse and check user input at the edges. Each function returns the clean value or raises
ValidationError naming the field and the value, so nothing invalid reaches the database."""

from __future__ import annotations

import re
import zoneinfo
from datetime import date, time
from functools import lru_cache

from core.errors import ValidationError

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")


@lru_cache(maxsize=1)
def known_zones() -> frozenset[str]:
    """The IANA keys this machine's tz database knows (tzdata is a dependency, so never empty)."""
    return frozenset(zoneinfo.available_timezones())


def is_valid_zone(value: str) -> bool:
    """True when `value` is an IANA zone key that ZoneInfo can load."""
    return value in known_zones()


def zone(value: str, field: str = "timezone") -> str:
    """Return `value` when it is a known IANA zone key such as 'Asia/Kolkata'."""
    cleaned = (value or "").strip()
    if not is_valid_zone(cleaned):
        raise ValidationError(field, value, "not an IANA time zone (for example 'Asia/Kolkata')")
    return cleaned


def phone(value: str, field: str = "phone") -> str:
    """Return an E.164 number: '+', country code, 7 to 15 digits in all, no spaces."""
    cleaned = (value or "").strip()
    if not _E164.match(cleaned):
        raise ValidationError(field, value, "not an E.164 phone number (for example +919876543210)")
    return cleaned


def send_time(value: str, field: str = "send_time") -> str:
    """Return a local wall time normalised to 'HH:MM' (24-hour)."""
    match = _HHMM.match((value or "").strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValidationError(field, value, "not a 24-hour time HH:MM (for example 06:30)")
    return f"{int(match[1]):02d}:{match[2]}"


def local_date(value: str, field: str = "local_date") -> date:
    """Return the calendar date of an ISO 'YYYY-MM-DD' string."""
    try:
        return date.fromisoformat((value or "").strip())
    except (TypeError, ValueError):
        raise ValidationError(
            field, value, "not a date YYYY-MM-DD (for example 2026-01-14)"
        ) from None


def send_time_of(value: str) -> time:
    """The `datetime.time` of an already validated 'HH:MM'."""
    hour, minute = value.split(":")
    return time(int(hour), int(minute))


def _number(value: object, field: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValidationError(field, value, "not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValidationError(field, value, "not a finite number")
    return number


def latitude(value: object, field: str = "latitude") -> float:
    """Return a latitude in degrees, -90..90 (north positive)."""
    number = _number(value, field)
    if not -90.0 <= number <= 90.0:
        raise ValidationError(field, value, "latitude must be between -90 and 90 degrees")
    return number


def longitude(value: object, field: str = "longitude") -> float:
    """Return a longitude in degrees, -180..180 (east positive)."""
    number = _number(value, field)
    if not -180.0 <= number <= 180.0:
        raise ValidationError(field, value, "longitude must be between -180 and 180 degrees")
    return number
