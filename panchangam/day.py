"""Assemble one day's panchangam for a place: the pure entry point and its cached form."""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import ValidationError
from panchangam import elements, kalam, lunar_calendar, riseset, sky
from panchangam.ayanamsa import lahiri_deg
from panchangam.cache import LRUCache
from panchangam.model import (
    Karana,
    LunarMonth,
    Nakshatra,
    Panchangam,
    TimeSpan,
    Tithi,
    Vaara,
    Yoga,
)

# de421 spans 1899-07-29..2053-10-09 and each date's sky reaches 40 days either side.
FIRST_DATE = date(1900, 3, 1)
LAST_DATE = date(2053, 8, 31)
# 0.01 deg is about 1 km: sunrise moves by a few seconds, and a city is one cache entry.
LOCATION_DECIMALS = 2

_SKIES: LRUCache[date, sky.DaySky] = LRUCache(maxsize=8)


def day_sky(local_date: date) -> sky.DaySky:
    """The shared, place-independent sky for a local date (cached per process)."""
    return _SKIES.get_or_compute(local_date, lambda: sky.build(local_date))


def _check(local_date: object, latitude: object, longitude: object, zone: object) -> ZoneInfo:
    if not isinstance(local_date, date) or isinstance(local_date, datetime):
        raise ValidationError("date", local_date, "must be a datetime.date")
    if not FIRST_DATE <= local_date <= LAST_DATE:
        raise ValidationError(
            "date", local_date.isoformat(), f"outside {FIRST_DATE}..{LAST_DATE} (ephemeris range)"
        )
    for field, value, limit in (("latitude", latitude, 90.0), ("longitude", longitude, 180.0)):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ValidationError(field, value, "must be a finite number of degrees")
        if not -limit <= value <= limit:
            raise ValidationError(field, value, f"must be between {-limit:g} and {limit:g} degrees")
    if not isinstance(zone, str) or not zone:
        raise ValidationError("timezone", zone, "must be an IANA time zone name")
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValidationError("timezone", zone, "unknown IANA time zone") from err


def _local(tz: ZoneInfo, posix: float) -> datetime:
    # Whole seconds: the published almanacs give minutes, and a stable value keeps the
    # elements-at-sunrise evaluation reproducible from the datetime alone.
    return datetime.fromtimestamp(round(posix), tz)


def _whole_second(moment: datetime) -> datetime:
    return (moment + timedelta(microseconds=500_000)).replace(microsecond=0)


def _wall(tz: ZoneInfo, day: date, at: time) -> float:
    return datetime.combine(day, at, tzinfo=tz).timestamp()


def _ends(
    transitions: sky.Transitions, ref: float, current: int, day_end: float
) -> tuple[float, int | None, float | None]:
    """(end of current, next number, end of next) with next only if it ends before day_end."""
    i = transitions.after(ref, current)
    if i + 1 >= len(transitions.times):
        raise RuntimeError("element boundary outside the sky window")
    end = transitions.times[i]
    following_end = transitions.times[i + 1]
    if following_end < day_end:
        return end, transitions.numbers[i], following_end
    return end, None, None


def compute(local_date: date, latitude: float, longitude: float, zone: str) -> Panchangam:
    """The panchangam of `local_date` at (latitude, longitude) deg, times in IANA `zone`.

    Raises core.errors.ValidationError naming the field for invalid input.
    """
    tz = _check(local_date, latitude, longitude, zone)
    sky_ = day_sky(local_date)
    day0 = _wall(tz, local_date, time(0))
    day1 = _wall(tz, local_date + timedelta(days=1), time(0))
    day2 = _wall(tz, local_date + timedelta(days=2), time(0))

    rises, sets = riseset.events(sky_, riseset.Body.SUN, latitude, longitude, day0, day1)
    sunrise = round(rises[0]) if rises else None
    later_sets = [s for s in sets if sunrise is None or s > sunrise]
    sunset = round(later_sets[0]) if later_sets else None
    next_rises, _ = riseset.events(sky_, riseset.Body.SUN, latitude, longitude, day1, day2)
    next_sunrise = round(next_rises[0]) if next_rises else None

    # Without a sunrise (polar night, midnight sun) the day is taken from local 06:00.
    ref = float(sunrise) if sunrise is not None else float(round(_wall(tz, local_date, time(6))))
    day_end = (
        float(next_sunrise)
        if next_sunrise is not None
        else _wall(tz, local_date + timedelta(days=1), time(6))
    )
    # The panchang day runs sunrise to sunrise, and so do its moonrise and moonset, as on
    # drikpanchang.com: a moonset at 00:56 after a 12:59 moonrise belongs to this day.
    moon_rises, moon_sets = riseset.events(
        sky_, riseset.Body.MOON, latitude, longitude, ref, day_end
    )

    sun_lon, moon_lon, tt = sky_.longitudes_at(ref)
    ayanamsa = lahiri_deg(tt)
    sid_sun, sid_moon = sun_lon - ayanamsa, moon_lon - ayanamsa

    t_num = elements.tithi_number(sun_lon, moon_lon)
    end, nxt, nxt_end = _ends(sky_.tithi, ref, t_num, day_end)
    tithi = Tithi(
        t_num,
        elements.tithi_name(t_num),
        elements.paksha(t_num),
        _local(tz, end),
        None
        if nxt is None or nxt_end is None
        else Tithi(nxt, elements.tithi_name(nxt), elements.paksha(nxt), _local(tz, nxt_end)),
    )
    n_num = elements.nakshatra_number(sid_moon)
    end, nxt, nxt_end = _ends(sky_.nakshatra, ref, n_num, day_end)
    nakshatra = Nakshatra(
        n_num,
        elements.nakshatra_name(n_num),
        elements.nakshatra_pada(sid_moon),
        _local(tz, end),
        None
        if nxt is None or nxt_end is None
        else Nakshatra(nxt, elements.nakshatra_name(nxt), 1, _local(tz, nxt_end)),
    )
    y_num = elements.yoga_number(sid_sun, sid_moon)
    end, nxt, nxt_end = _ends(sky_.yoga, ref, y_num, day_end)
    yoga = Yoga(
        y_num,
        elements.yoga_name(y_num),
        _local(tz, end),
        None
        if nxt is None or nxt_end is None
        else Yoga(nxt, elements.yoga_name(nxt), _local(tz, nxt_end)),
    )
    k_num = elements.karana_number(sun_lon, moon_lon)
    end, nxt, nxt_end = _ends(sky_.karana, ref, k_num, day_end)
    karana = Karana(
        k_num,
        elements.karana_name(k_num),
        _local(tz, end),
        None
        if nxt is None or nxt_end is None
        else Karana(nxt, elements.karana_name(nxt), _local(tz, nxt_end)),
    )

    weekday = (local_date.weekday() + 1) % 7  # Python counts from Monday; the tables from Sunday
    kalams: list[TimeSpan | None] = [None, None, None]
    if sunrise is not None and sunset is not None:
        rise_dt, set_dt = _local(tz, sunrise), _local(tz, sunset)
        kalams = [
            TimeSpan(*(_whole_second(t) for t in fn(rise_dt, set_dt, weekday)))
            for fn in (kalam.rahu_kalam, kalam.yamaganda, kalam.gulika_kalam)
        ]

    amanta, adhika = lunar_calendar.amanta_month(sky_.new_moons, ref)
    purnimanta = lunar_calendar.purnimanta_month(amanta, adhika, t_num)
    shaka = lunar_calendar.shaka_year(local_date, amanta)
    sanskrit, english = elements.vaara(weekday)

    return Panchangam(
        date=local_date,
        timezone=zone,
        latitude=float(latitude),
        longitude=float(longitude),
        sunrise=None if sunrise is None else _local(tz, sunrise),
        sunset=None if sunset is None else _local(tz, sunset),
        moonrise=_local(tz, moon_rises[0]) if moon_rises else None,
        moonset=_local(tz, moon_sets[0]) if moon_sets else None,
        reference=_local(tz, ref),
        next_sunrise=None if next_sunrise is None else _local(tz, next_sunrise),
        vaara=Vaara(weekday, sanskrit, english),
        tithi=tithi,
        nakshatra=nakshatra,
        yoga=yoga,
        karana=karana,
        rahu_kalam=kalams[0],
        yamaganda=kalams[1],
        gulika_kalam=kalams[2],
        lunar_month=LunarMonth(
            lunar_calendar.month_name(amanta), lunar_calendar.month_name(purnimanta), adhika
        ),
        shaka_year=shaka,
        samvatsara=lunar_calendar.samvatsara(shaka),
        ayanamsa_deg=ayanamsa,
    )


_RESULTS: LRUCache[tuple[float, float, str, date], Panchangam] = LRUCache(maxsize=50_000)


def cached_compute(local_date: date, latitude: float, longitude: float, zone: str) -> Panchangam:
    """Like compute(), through the per-process cache keyed by (rounded place, zone, date).

    The place is rounded to 0.01 deg (~1 km) before computing, so every user in a city gets the
    same result whichever of them asked first.
    """
    _check(local_date, latitude, longitude, zone)
    lat = round(float(latitude), LOCATION_DECIMALS)
    lon = round(float(longitude), LOCATION_DECIMALS)
    key = (lat, lon, zone, local_date)
    return _RESULTS.get_or_compute(key, lambda: compute(local_date, lat, lon, zone))


def clear_caches() -> None:
    """Empty both caches (tests and benchmarks use this for cold timings)."""
    _SKIES.clear()
    _RESULTS.clear()


def cache_stats() -> dict[str, int]:
    """Hit and miss counts of the result cache."""
    return {"hits": _RESULTS.hits, "misses": _RESULTS.misses, "size": len(_RESULTS)}
