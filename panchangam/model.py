"""The typed, immutable result of a day's panchangam.

Times are aware datetimes in the place's zone. An element's `next` is the one that follows
it, present only when that one also ends before the next sunrise (so a skipped, kshaya,
tithi shows up as `next`, and a repeated, vriddhi, tithi spans the whole day with no `next`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class Vaara:
    """Weekday counted from sunrise: number 0 = Sunday .. 6 = Saturday."""

    number: int
    name: str
    english: str


@dataclass(frozen=True, slots=True)
class Tithi:
    """Lunar day 1..30; 1-15 Shukla paksha (15 Purnima), 16-30 Krishna (30 Amavasya)."""

    number: int
    name: str
    paksha: str
    ends_at: datetime
    next: Tithi | None = None


@dataclass(frozen=True, slots=True)
class Nakshatra:
    """Lunar mansion 1..27 and its pada 1..4 (for `next`, the pada it begins in: 1)."""

    number: int
    name: str
    pada: int
    ends_at: datetime
    next: Nakshatra | None = None


@dataclass(frozen=True, slots=True)
class Yoga:
    """Yoga 1..27."""

    number: int
    name: str
    ends_at: datetime
    next: Yoga | None = None


@dataclass(frozen=True, slots=True)
class Karana:
    """Half-tithi 1..60 (number) and its name."""

    number: int
    name: str
    ends_at: datetime
    next: Karana | None = None


@dataclass(frozen=True, slots=True)
class TimeSpan:
    """A [start, end) period of the day."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class LunarMonth:
    """Lunar month names; `adhika` marks a leap month (the same flag holds in both systems)."""

    amanta: str
    purnimanta: str
    adhika: bool


@dataclass(frozen=True, slots=True)
class Panchangam:
    """A day's panchangam for one place.

    `reference` is the instant the elements are taken at: sunrise, or local 06:00 when the
    Sun does not rise that day (polar night or midnight sun). The kalams need both sunrise and
    sunset and are None without them. `moonrise` and `moonset` are the first of each from
    `reference` to the next sunrise (the panchang day), so a moonset can fall after midnight;
    None when the Moon does not rise or set in that span.
    """

    date: date
    timezone: str
    latitude: float
    longitude: float
    sunrise: datetime | None
    sunset: datetime | None
    moonrise: datetime | None
    moonset: datetime | None
    reference: datetime
    next_sunrise: datetime | None
    vaara: Vaara
    tithi: Tithi
    nakshatra: Nakshatra
    yoga: Yoga
    karana: Karana
    rahu_kalam: TimeSpan | None
    yamaganda: TimeSpan | None
    gulika_kalam: TimeSpan | None
    lunar_month: LunarMonth
    shaka_year: int
    samvatsara: str
    ayanamsa_deg: float
