"""The place-independent sky around one local date, computed once and shared by every city.

Which tithi, nakshatra, yoga or karana is in force, and when it ends, depends only on the
instant, not on the place. So for each local date we take the Sun and Moon every ten minutes
over a UTC window wide enough for every zone on Earth (UTC-12..UTC+14), find every element
boundary in it once, and let each city look its sunrise up in those lists. The same samples
serve the rise/set search.

The ephemeris itself is evaluated only every six hours, over the ~10 weeks that also hold the
new moons naming the lunar month, and the ten-minute samples are cubic (four-point Lagrange)
interpolations of those. Sun and Moon positions are smooth enough that this stays within
0.1 arcsecond of a direct evaluation (tests/panchangam check it), a fifth of a second of the
Moon's motion. One batch of 273 instants, instead of the thousand-odd a ten-minute grid and a
new-moon search took before, and the cheaper batch settings in astro.positions() bring a
date's sky to about 10 ms (BENCHMARKS.md).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np

from panchangam import astro
from panchangam.ayanamsa import lahiri_deg
from panchangam.elements import KARANA_SPAN_DEG, NAKSHATRA_SPAN_DEG, TITHI_SPAN_DEG

GRID_STEP_S = 600.0
EPHEMERIS_STEP_S = 6 * 3600.0
_DAY_S = 86_400.0
# The window starts a day before the local date (UTC+14 midnight is 10:00 UTC the day before)
# and runs four days after it: next sunrise plus the longest element (~27 h) fit with room.
_WINDOW_BEFORE_DAYS = 1
_WINDOW_AFTER_DAYS = 4
# A sunrise of the date lies within 10:00 UTC the day before .. 12:00 UTC the day after, and
# a lunation lasts at most 29.9 days, so the new moons either side of it are within 31.5 days
# of the date; 34 leaves room, and the interpolation needs one ephemeris step beyond.
_EPHEMERIS_REACH_DAYS = 34


@dataclass(frozen=True)
class Transitions:
    """Boundaries of one element kind: at times[i] the element becomes numbers[i]."""

    times: tuple[float, ...]
    numbers: tuple[int, ...]

    def after(self, instant: float, current: int) -> int:
        """Index of the first boundary after `instant` that ends `current`.

        `current` comes from the longitudes at `instant`; if it already disagrees with a
        boundary a fraction of a second away (the two are interpolated differently), that
        boundary is the one it passed.
        """
        i = bisect.bisect_right(self.times, instant)
        if i < len(self.numbers) and self.numbers[i] == current:
            i += 1
        return i


@dataclass(frozen=True)
class NewMoon:
    """A new moon (Moon - Sun = 0) and the sidereal sign (1 Mesha .. 12 Mina) the Sun is in."""

    posix: float
    sun_rashi: int


@dataclass(frozen=True)
class DaySky:
    """Samples and element boundaries for one local date; see the module docstring."""

    local_date: date
    posix: np.ndarray
    sun_lon: np.ndarray  # tropical ecliptic longitude of date, unwrapped degrees
    moon_lon: np.ndarray
    tt_jd: np.ndarray
    sun_ra: np.ndarray  # unwrapped radians, so linear interpolation is safe
    sun_dec: np.ndarray
    moon_ra: np.ndarray
    moon_dec: np.ndarray
    moon_dist_km: np.ndarray
    gast: np.ndarray  # unwrapped radians
    tithi: Transitions
    karana: Transitions
    nakshatra: Transitions
    yoga: Transitions
    new_moons: tuple[NewMoon, ...]

    def longitudes_at(self, instant: float) -> tuple[float, float, float]:
        """(Sun longitude 0..360, Moon longitude 0..360, TT Julian date) at an instant.

        Linear between the ten-minute samples: within 0.05 arcsecond of astro.longitudes()
        (measured 0.03), a tenth of a second of the Moon's motion, with no ephemeris call.
        """
        if not self.start <= instant <= self.end:
            raise ValueError(f"instant {instant} outside the sky window of {self.local_date}")
        sun, moon, tt = (
            float(np.interp(instant, self.posix, row))
            for row in (self.sun_lon, self.moon_lon, self.tt_jd)
        )
        return sun % 360.0, moon % 360.0, tt

    @property
    def start(self) -> float:
        return float(self.posix[0])

    @property
    def end(self) -> float:
        return float(self.posix[-1])


def _transitions(posix: np.ndarray, q_deg: np.ndarray, span: float, count: int) -> Transitions:
    """Times where continuous, increasing q crosses a multiple of span (linear interpolation).

    On a ten-minute grid the Moon's changing speed bends q by far less than a second of time,
    so interpolation needs no further refinement.
    """
    q = np.unwrap(np.radians(q_deg)) * (180.0 / math.pi)
    idx = np.floor(q / span)
    times: list[float] = []
    numbers: list[int] = []
    for i in np.nonzero(np.diff(idx))[0]:
        for k in range(int(idx[i]) + 1, int(idx[i + 1]) + 1):
            frac = (k * span - q[i]) / (q[i + 1] - q[i])
            times.append(float(posix[i] + frac * (posix[i + 1] - posix[i])))
            numbers.append(k % count + 1)
    return Transitions(tuple(times), tuple(numbers))


def _cubic(t0: float, step: float, values: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Four-point Lagrange interpolation of rows of `values`, sampled every `step` from t0.

    Each target uses the two samples either side of it, so targets must lie at least one
    step inside the sampled span.
    """
    u = (targets - t0) / step
    i = np.clip(np.floor(u).astype(np.int64) - 1, 0, values.shape[-1] - 4)
    s = u - i  # 1 <= s < 2 inside the span: the middle interval of the four points
    w0 = -(s - 1.0) * (s - 2.0) * (s - 3.0) / 6.0
    w1 = s * (s - 2.0) * (s - 3.0) / 2.0
    w2 = -s * (s - 1.0) * (s - 3.0) / 2.0
    w3 = s * (s - 1.0) * (s - 2.0) / 6.0
    out: np.ndarray = (
        w0 * values[..., i]
        + w1 * values[..., i + 1]
        + w2 * values[..., i + 2]
        + w3 * values[..., i + 3]
    )
    return out


def _new_moons(
    t0: float, fine: np.ndarray, sun_lon: np.ndarray, moon_lon: np.ndarray, tt: np.ndarray
) -> tuple[NewMoon, ...]:
    """New moons in the span of `fine`; the rows are ephemeris samples from t0 (unwrapped deg)."""
    stacked = _cubic(t0, EPHEMERIS_STEP_S, np.stack([sun_lon, moon_lon]), fine)
    found = _transitions(fine, stacked[1] - stacked[0], 360.0, 1)
    if not found.times:
        return ()
    at = np.array(found.times)
    sun, tt_at = _cubic(t0, EPHEMERIS_STEP_S, np.stack([sun_lon, tt]), at)
    sidereal_sun = (sun - lahiri_deg(tt_at)) % 360.0
    return tuple(
        NewMoon(float(when), int(lon // 30.0) % 12 + 1)
        for when, lon in zip(at, sidereal_sun, strict=True)
    )


def build(local_date: date) -> DaySky:
    """Compute the DaySky for `local_date` (about ten milliseconds; cache the result)."""
    midnight = datetime(local_date.year, local_date.month, local_date.day, tzinfo=UTC).timestamp()
    reach = _EPHEMERIS_REACH_DAYS * _DAY_S
    coarse = np.arange(midnight - reach, midnight + reach + 1.0, EPHEMERIS_STEP_S)
    pos = astro.positions(coarse)
    degrees = 180.0 / math.pi
    sun_lon = np.unwrap(np.radians(pos.sun_lon)) * degrees
    moon_lon = np.unwrap(np.radians(pos.moon_lon)) * degrees

    grid = np.arange(
        midnight - _WINDOW_BEFORE_DAYS * _DAY_S,
        midnight + _WINDOW_AFTER_DAYS * _DAY_S + 1.0,
        GRID_STEP_S,
    )
    rows = _cubic(
        float(coarse[0]),
        EPHEMERIS_STEP_S,
        np.stack(
            [
                sun_lon,
                moon_lon,
                np.unwrap(pos.sun_ra),
                pos.sun_dec,
                np.unwrap(pos.moon_ra),
                pos.moon_dec,
                pos.moon_dist_km,
                np.unwrap(pos.gast),
                pos.tt_jd,
            ]
        ),
        grid,
    )
    g_sun, g_moon, sun_ra, sun_dec, moon_ra, moon_dec, dist, gast, tt = rows
    ayan = lahiri_deg(tt)
    sid_sun = g_sun - ayan
    sid_moon = g_moon - ayan
    elong = g_moon - g_sun
    span = np.arange(coarse[1], coarse[-2], GRID_STEP_S)
    return DaySky(
        local_date=local_date,
        posix=grid,
        sun_lon=g_sun,
        moon_lon=g_moon,
        tt_jd=tt,
        sun_ra=sun_ra,
        sun_dec=sun_dec,
        moon_ra=moon_ra,
        moon_dec=moon_dec,
        moon_dist_km=dist,
        gast=gast,
        tithi=_transitions(grid, elong, TITHI_SPAN_DEG, 30),
        karana=_transitions(grid, elong, KARANA_SPAN_DEG, 60),
        nakshatra=_transitions(grid, sid_moon, NAKSHATRA_SPAN_DEG, 27),
        yoga=_transitions(grid, sid_sun + sid_moon, NAKSHATRA_SPAN_DEG, 27),
        new_moons=_new_moons(float(coarse[0]), span, sun_lon, moon_lon, pos.tt_jd),
    )
