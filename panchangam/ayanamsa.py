"""Lahiri (Chitrapaksha) ayanamsa, the Indian national standard.

skyfield has no ayanamsa, and the definition is short: the true value was 23 deg 15' 00.658"
at 1956-03-21 0h TT; carry the mean value forward by general precession in longitude and add
nutation in longitude for the true value. Sidereal longitudes are then tropical longitudes of
date (true equinox, which already includes nutation) minus this true ayanamsa.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import numpy.typing as npt
from skyfield.nutationlib import iau2000b_radians

Num = TypeVar("Num", float, npt.NDArray[np.float64])

_ARCSEC_PER_RAD = 206_264.80624709636
_J2000 = 2_451_545.0
_EPOCH_TT_JD = 2_435_553.5  # 1956-03-21 0h TT
_TRUE_AT_EPOCH_ARCSEC = 23 * 3600 + 15 * 60 + 0.658


def _general_precession_arcsec(tt_jd: Num) -> Num:
    """IAU 2006 general precession in longitude p_A (Capitaine et al. 2003), arcseconds."""
    t = (tt_jd - _J2000) / 36_525.0
    return t * (5028.796195 + t * (1.1054348 + t * (0.00007964 + t * (-0.000023857))))


def _nutation_longitude_arcsec(tt_jd: Num) -> Num:
    """Nutation in longitude (IAU 2000B, good to a milliarcsecond), arcseconds."""

    class _T:  # iau2000b_radians reads only .tt, so a stand-in spares building a Time
        tt = tt_jd

    dpsi, _ = iau2000b_radians(_T)
    if isinstance(tt_jd, np.ndarray):
        return np.asarray(dpsi, dtype=np.float64) * _ARCSEC_PER_RAD
    return float(dpsi) * _ARCSEC_PER_RAD


_MEAN_AT_EPOCH_ARCSEC = _TRUE_AT_EPOCH_ARCSEC - _nutation_longitude_arcsec(_EPOCH_TT_JD)


def lahiri_mean_deg(tt_jd: Num) -> Num:
    """Mean Lahiri ayanamsa in degrees at a TT Julian date (no nutation)."""
    drift = _general_precession_arcsec(tt_jd) - _general_precession_arcsec(_EPOCH_TT_JD)
    return (_MEAN_AT_EPOCH_ARCSEC + drift) / 3600.0


def lahiri_deg(tt_jd: Num) -> Num:
    """True Lahiri ayanamsa in degrees at a TT Julian date (mean plus nutation in longitude)."""
    return lahiri_mean_deg(tt_jd) + _nutation_longitude_arcsec(tt_jd) / 3600.0
