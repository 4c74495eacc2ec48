"""The place-independent sky around one local date, computed once and shared by every city.

Which tithi, nakshatra, yoga or karana is in force, and when it ends, depends only on the
instant, not on the place. So for each local date we sample the Sun and Moon every ten
minutes over a UTC window wide enough for every zone on Earth (UTC-12..UTC+14), find every
element boundary in it once, and let each city look its sunrise up in those lists. The same
samples serve the rise/set search, and a coarser grid finds the new moons that name the
lunar month.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np

from panchangam import astro
from panchangam.ayanamsa import lahiri_deg
from panchangam.elements import KARANA_SPAN_DEG, NAKSHATRA_SPAN_DEG, TITHI_SPAN_DEG

GRID_STEP_S = 600.0
_DAY_S = 86_400.0
# The window starts a day before the local date (UTC+14 midnight is 10:00 UTC the day before)
# and runs four days after it: next sunrise plus the longest element (~27 h) fit with room.
_WINDOW_BEFORE_DAYS = 1
_WINDOW_AFTER_DAYS = 4
_NEW_MOON_STEP_S = 6 * 3600.0
_NEW_MOON_REACH_DAYS = 40


@dataclass(frozen=True)
class Transitions:
    """Boundaries of one element kind: at times[i] the element becomes numbers[i]."""

    times: tuple[float, ...]
    numbers: tuple[int, ...]

    def after(self, instant: float, current: int) -> int:
        """Index of the first boundary after `instant` that ends `current`.

        `current` comes from a direct evaluation; if it already disagrees with a boundary a
        fraction of a second away (interpolation error), that boundary is the one it passed.
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


def _new_moons(center: float) -> tuple[NewMoon, ...]:
    """New moons within ~40 days of `center`, refined by one Newton step on the ephemeris."""
    reach = _NEW_MOON_REACH_DAYS * _DAY_S
    grid = np.arange(center - reach, center + reach + 1.0, _NEW_MOON_STEP_S)
    pos = astro.positions(grid)
    elong = np.unwrap(np.radians(pos.moon_lon - pos.sun_lon)) * (180.0 / math.pi)
    turns = np.floor(elong / 360.0)
    guesses: list[float] = []
    rates: list[float] = []
    for i in np.nonzero(np.diff(turns))[0]:
        target = float(turns[i + 1]) * 360.0
        rate = (elong[i + 1] - elong[i]) / (grid[i + 1] - grid[i])
        guesses.append(float(grid[i] + (target - elong[i]) / rate))
        rates.append(float(rate))
    if not guesses:
        return ()
    exact = astro.positions(np.array(guesses))
    out = []
    for j, guess in enumerate(guesses):
        # Residual elongation, wrapped to -180..180, over the mean rate: one Newton step.
        err = (exact.moon_lon[j] - exact.sun_lon[j] + 180.0) % 360.0 - 180.0
        sidereal_sun = (exact.sun_lon[j] - lahiri_deg(float(exact.tt_jd[j]))) % 360.0
        out.append(NewMoon(guess - err / rates[j], int(sidereal_sun // 30.0) % 12 + 1))
    return tuple(out)


def build(local_date: date) -> DaySky:
    """Compute the DaySky for `local_date` (tens of milliseconds; cache the result)."""
    midnight = datetime(local_date.year, local_date.month, local_date.day, tzinfo=UTC)
    start = (midnight - timedelta(days=_WINDOW_BEFORE_DAYS)).timestamp()
    stop = (midnight + timedelta(days=_WINDOW_AFTER_DAYS)).timestamp()
    grid = np.arange(start, stop + 1.0, GRID_STEP_S)
    pos = astro.positions(grid)
    ayan = lahiri_deg(pos.tt_jd)
    sid_sun = pos.sun_lon - ayan
    sid_moon = pos.moon_lon - ayan
    elong = pos.moon_lon - pos.sun_lon
    return DaySky(
        local_date=local_date,
        posix=grid,
        sun_ra=np.unwrap(pos.sun_ra),
        sun_dec=pos.sun_dec,
        moon_ra=np.unwrap(pos.moon_ra),
        moon_dec=pos.moon_dec,
        moon_dist_km=pos.moon_dist_km,
        gast=np.unwrap(pos.gast),
        tithi=_transitions(grid, elong, TITHI_SPAN_DEG, 30),
        karana=_transitions(grid, elong, KARANA_SPAN_DEG, 60),
        nakshatra=_transitions(grid, sid_moon, NAKSHATRA_SPAN_DEG, 27),
        yoga=_transitions(grid, sid_sun + sid_moon, NAKSHATRA_SPAN_DEG, 27),
        new_moons=_new_moons(midnight.timestamp()),
    )
