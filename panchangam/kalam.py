"""Rahu kalam, Yamaganda and Gulika kalam: fixed eighths of the daytime by weekday."""

from __future__ import annotations

from datetime import datetime

# Part (1-based) of sunrise-to-sunset split into eight, indexed Sunday = 0 .. Saturday = 6.
RAHU_PART = (8, 2, 7, 5, 6, 4, 3)
YAMAGANDA_PART = (5, 4, 3, 2, 1, 7, 6)
GULIKA_PART = (7, 6, 5, 4, 3, 2, 1)


def eighth(sunrise: datetime, sunset: datetime, part: int) -> tuple[datetime, datetime]:
    """(start, end) of the 1-based `part` of eight equal parts of sunrise..sunset."""
    if not 1 <= part <= 8:
        raise ValueError(f"part must be 1..8, got {part}")
    length = (sunset - sunrise) / 8
    start = sunrise + length * (part - 1)
    return start, start + length


def rahu_kalam(sunrise: datetime, sunset: datetime, weekday: int) -> tuple[datetime, datetime]:
    """Rahu kalam for weekday 0 = Sunday .. 6 = Saturday."""
    return eighth(sunrise, sunset, RAHU_PART[weekday])


def yamaganda(sunrise: datetime, sunset: datetime, weekday: int) -> tuple[datetime, datetime]:
    """Yamaganda for weekday 0 = Sunday .. 6 = Saturday."""
    return eighth(sunrise, sunset, YAMAGANDA_PART[weekday])


def gulika_kalam(sunrise: datetime, sunset: datetime, weekday: int) -> tuple[datetime, datetime]:
    """Gulika kalam for weekday 0 = Sunday .. 6 = Saturday."""
    return eighth(sunrise, sunset, GULIKA_PART[weekday])
