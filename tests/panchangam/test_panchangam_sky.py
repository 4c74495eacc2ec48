"""The shared sky interpolates a six-hourly ephemeris; check it against direct evaluations.

Everything a user sees (sunrise, element at sunrise, end times, month) comes from these
samples, so the interpolation must stay far below the almanacs' one-minute precision: we ask
for 0.1 arcsecond, a fifth of a second of the Moon's motion.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

import numpy as np
import pytest

from panchangam import astro, sky

ARCSEC = 1.0 / 3600.0
_rng = random.Random(20261121)
# Dates over the whole supported span, where nutation models and Delta T differ most.
DATES = [date(1900, 3, 1) + timedelta(days=_rng.randrange(0, 56_000)) for _ in range(12)]


def _wrapped(a: float | np.ndarray, b: float | np.ndarray) -> float:
    return float(np.max(np.abs((np.asarray(a) - np.asarray(b) + 180.0) % 360.0 - 180.0)))


@pytest.mark.parametrize("day", DATES, ids=str)
def test_interpolated_longitudes_match_a_direct_ephemeris_evaluation(day: date) -> None:
    day_sky = sky.build(day)
    rng = random.Random(day.toordinal())
    for _ in range(5):
        instant = rng.uniform(day_sky.start, day_sky.end)
        sun, moon, tt = day_sky.longitudes_at(instant)
        sun_direct, moon_direct, tt_direct = astro.longitudes(instant)
        assert _wrapped(sun, sun_direct) < 0.1 * ARCSEC
        assert _wrapped(moon, moon_direct) < 0.1 * ARCSEC
        assert abs(tt - tt_direct) * 86_400 < 0.01  # seconds


@pytest.mark.parametrize("day", DATES[:6], ids=str)
def test_interpolated_rise_set_inputs_match_the_ephemeris_at_every_sample(day: date) -> None:
    day_sky = sky.build(day)
    direct = astro.positions(day_sky.posix)
    radians_to_deg = 180.0 / np.pi
    for name in ("sun_ra", "sun_dec", "moon_ra", "moon_dec", "gast"):
        got = getattr(day_sky, name) * radians_to_deg
        want = getattr(direct, name) * radians_to_deg
        assert _wrapped(got, want) < 0.2 * ARCSEC, name
    assert np.max(np.abs(day_sky.moon_dist_km - direct.moon_dist_km)) < 0.1  # km


@pytest.mark.parametrize("day", DATES, ids=str)
def test_new_moons_are_where_the_moon_meets_the_sun(day: date) -> None:
    day_sky = sky.build(day)
    moons = day_sky.new_moons
    midnight = day_sky.posix[0] + sky._DAY_S  # 00:00 UTC of the date
    # A sunrise of the date, in any zone, lies within 10:00 UTC the day before and 12:00 UTC
    # the day after; the month needs the new moon before and after it.
    assert moons[0].posix < midnight - 14 * 3600
    assert moons[-1].posix > midnight + 36 * 3600
    for moon in moons:
        sun_lon, moon_lon, _ = astro.longitudes(moon.posix)
        # 0.25" of elongation is half a second of time.
        assert _wrapped(moon_lon, sun_lon) < 0.25 * ARCSEC
    gaps = np.diff([m.posix for m in moons]) / sky._DAY_S
    assert np.all((gaps > 29.2) & (gaps < 29.9))


def test_an_instant_outside_the_window_is_refused() -> None:
    day_sky = sky.build(date(2026, 1, 14))
    with pytest.raises(ValueError, match="outside the sky window"):
        day_sky.longitudes_at(day_sky.end + 1.0)
