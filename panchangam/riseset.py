"""Rising and setting of the Sun and Moon for one place, from the shared DaySky samples.

The samples hold geocentric apparent right ascension, declination and sidereal time every
ten minutes; a place only adds its latitude and longitude. We evaluate the altitude of the
body against its horizon rule on the grid, and refine each sign change by regula falsi on the
linearly interpolated samples (linear interpolation over ten minutes is good to well under a
second for both bodies).

Horizon rules, as drikpanchang.com's daily pages use them:
- Sun: upper limb with standard refraction, geometric altitude -0.8333 deg (34' + 16'), the
  ordinary almanac convention.
- Moon: the centre of the disc on the true horizon as seen from the place: topocentric
  altitude (geocentric altitude minus parallax) zero, with no refraction or semidiameter.
  Drikpanchang's published moonrises and moonsets for New Delhi, New York and Vilnius sit at
  that altitude to within their rounding minute (tests/panchangam check them); the
  upper-limb-with-refraction rule of Western almanacs, which we used before, rose 4-6 minutes
  earlier on those days.
- compute() takes the first moonrise and moonset of the panchang day (sunrise to sunrise).
"""

from __future__ import annotations

import math
from enum import Enum

import numpy as np

from panchangam.astro import moon_parallax_rad
from panchangam.sky import DaySky

_SUN_HORIZON_RAD = math.radians(-0.8333)
_TOLERANCE_S = 0.05


class Body(Enum):
    """What rises or sets."""

    SUN = "sun"
    MOON = "moon"


def _altitude_margin(
    sky: DaySky, body: Body, lat: float, lon: float, idx: np.ndarray | slice
) -> np.ndarray:
    """Altitude above the body's horizon rule (radians) at grid samples `idx`; > 0 means up."""
    phi = math.radians(lat)
    lam = math.radians(lon)
    gast = sky.gast[idx]
    if body is Body.SUN:
        ra, dec = sky.sun_ra[idx], sky.sun_dec[idx]
    else:
        ra, dec = sky.moon_ra[idx], sky.moon_dec[idx]
    hour_angle = gast + lam - ra
    sin_alt = math.sin(phi) * np.sin(dec) + math.cos(phi) * np.cos(dec) * np.cos(hour_angle)
    alt = np.arcsin(np.clip(sin_alt, -1.0, 1.0))
    if body is Body.SUN:
        return alt - _SUN_HORIZON_RAD
    out: np.ndarray = alt - moon_parallax_rad(sky.moon_dist_km[idx]) * np.cos(alt)
    return out


def _margin_at(sky: DaySky, body: Body, lat: float, lon: float, i: int, t: float) -> float:
    """The altitude margin at instant t inside grid interval [i, i+1], by interpolation."""
    t0, t1 = sky.posix[i], sky.posix[i + 1]
    w = (t - t0) / (t1 - t0)

    def lerp(a: np.ndarray) -> float:
        return float(a[i] + w * (a[i + 1] - a[i]))

    phi = math.radians(lat)
    gast = lerp(sky.gast)
    if body is Body.SUN:
        ra, dec = lerp(sky.sun_ra), lerp(sky.sun_dec)
    else:
        ra, dec = lerp(sky.moon_ra), lerp(sky.moon_dec)
    hour_angle = gast + math.radians(lon) - ra
    sin_alt = math.sin(phi) * math.sin(dec) + math.cos(phi) * math.cos(dec) * math.cos(hour_angle)
    alt = math.asin(max(-1.0, min(1.0, sin_alt)))
    if body is Body.SUN:
        return alt - _SUN_HORIZON_RAD
    parallax = float(moon_parallax_rad(np.array([lerp(sky.moon_dist_km)]))[0])
    return alt - parallax * math.cos(alt)


def _refine(sky: DaySky, body: Body, lat: float, lon: float, i: int) -> float:
    """The crossing instant inside grid interval [i, i+1] (Illinois regula falsi)."""
    a, b = float(sky.posix[i]), float(sky.posix[i + 1])
    fa = _margin_at(sky, body, lat, lon, i, a)
    fb = _margin_at(sky, body, lat, lon, i, b)
    for _ in range(60):
        c = b - fb * (b - a) / (fb - fa) if fb != fa else (a + b) / 2.0
        fc = _margin_at(sky, body, lat, lon, i, c)
        if fc * fb < 0:
            a, fa = b, fb
        else:
            fa /= 2.0  # Illinois step: stops one end sticking, which plain regula falsi does
        b, fb = c, fc
        if abs(b - a) < _TOLERANCE_S or fc == 0.0:
            break
    return b


def events(
    sky: DaySky, body: Body, lat: float, lon: float, start: float, stop: float
) -> tuple[list[float], list[float]]:
    """(risings, settings) of `body` in [start, stop), as UTC POSIX seconds in time order."""
    first = max(int(np.searchsorted(sky.posix, start, side="right")) - 1, 0)
    last = min(int(np.searchsorted(sky.posix, stop, side="left")), len(sky.posix) - 1)
    if last <= first:
        return [], []
    margin = _altitude_margin(sky, body, lat, lon, slice(first, last + 1))
    up = margin > 0.0
    rises: list[float] = []
    sets: list[float] = []
    for j in np.nonzero(up[1:] != up[:-1])[0]:
        t = _refine(sky, body, lat, lon, first + int(j))
        if start <= t < stop:
            (rises if up[j + 1] else sets).append(t)
    return rises, sets
