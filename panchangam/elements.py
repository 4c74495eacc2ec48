"""The five limbs' names and the index formulas that turn longitudes into them.

All formulas take longitudes in degrees. Tithi and karana use tropical longitudes (the
ayanamsa cancels in Moon minus Sun); nakshatra and yoga use sidereal ones.
"""

from __future__ import annotations

import math

NAKSHATRA_SPAN_DEG = 360.0 / 27.0  # 13 deg 20'
TITHI_SPAN_DEG = 12.0
KARANA_SPAN_DEG = 6.0

TITHI_NAMES = (
    "Pratipada", "Dwitiya", "Tritiya", "Chaturthi", "Panchami", "Shashthi", "Saptami",
    "Ashtami", "Navami", "Dashami", "Ekadashi", "Dwadashi", "Trayodashi", "Chaturdashi",
)  # fmt: skip

NAKSHATRA_NAMES = (
    "Ashwini", "Bharani", "Krittika", "Rohini", "Mrigashira", "Ardra", "Punarvasu",
    "Pushya", "Ashlesha", "Magha", "Purva Phalguni", "Uttara Phalguni", "Hasta", "Chitra",
    "Swati", "Vishakha", "Anuradha", "Jyeshtha", "Mula", "Purva Ashadha", "Uttara Ashadha",
    "Shravana", "Dhanishtha", "Shatabhisha", "Purva Bhadrapada", "Uttara Bhadrapada", "Revati",
)  # fmt: skip

YOGA_NAMES = (
    "Vishkambha", "Priti", "Ayushman", "Saubhagya", "Shobhana", "Atiganda", "Sukarma",
    "Dhriti", "Shula", "Ganda", "Vriddhi", "Dhruva", "Vyaghata", "Harshana", "Vajra",
    "Siddhi", "Vyatipata", "Variyana", "Parigha", "Shiva", "Siddha", "Sadhya", "Shubha",
    "Shukla", "Brahma", "Indra", "Vaidhriti",
)  # fmt: skip

_MOVABLE_KARANAS = ("Bava", "Balava", "Kaulava", "Taitila", "Garaja", "Vanija", "Vishti")

VAARA_NAMES = (  # indexed Sunday = 0
    ("Ravivara", "Sunday"), ("Somavara", "Monday"), ("Mangalavara", "Tuesday"),
    ("Budhavara", "Wednesday"), ("Guruvara", "Thursday"), ("Shukravara", "Friday"),
    ("Shanivara", "Saturday"),
)  # fmt: skip


def elongation_deg(sun_lon: float, moon_lon: float) -> float:
    """Moon minus Sun, reduced to 0..360 degrees."""
    return (moon_lon - sun_lon) % 360.0


def _index(value_deg: float, span_deg: float, count: int) -> int:
    # min() guards the float edge where value % 360 rounds up to exactly 360.
    return min(math.floor((value_deg % 360.0) / span_deg), count - 1)


def tithi_number(sun_lon: float, moon_lon: float) -> int:
    """Tithi 1..30 from tropical longitudes: 1-15 Shukla (15 Purnima), 16-30 Krishna."""
    return _index(elongation_deg(sun_lon, moon_lon), TITHI_SPAN_DEG, 30) + 1


def karana_number(sun_lon: float, moon_lon: float) -> int:
    """Karana 1..60: half-tithi k = floor(elongation / 6) plus one."""
    return _index(elongation_deg(sun_lon, moon_lon), KARANA_SPAN_DEG, 60) + 1


def nakshatra_number(sidereal_moon_lon: float) -> int:
    """Nakshatra 1..27 from the Moon's sidereal longitude."""
    return _index(sidereal_moon_lon, NAKSHATRA_SPAN_DEG, 27) + 1


def nakshatra_pada(sidereal_moon_lon: float) -> int:
    """Pada 1..4: the quarter (3 deg 20') of the nakshatra the Moon is in."""
    return _index(sidereal_moon_lon, NAKSHATRA_SPAN_DEG / 4.0, 108) % 4 + 1


def yoga_number(sidereal_sun_lon: float, sidereal_moon_lon: float) -> int:
    """Yoga 1..27 from the sum of sidereal Sun and Moon longitudes."""
    return _index(sidereal_sun_lon + sidereal_moon_lon, NAKSHATRA_SPAN_DEG, 27) + 1


def tithi_name(number: int) -> str:
    """Name of tithi 1..30 (15 is Purnima, 30 Amavasya)."""
    if number == 15:
        return "Purnima"
    if number == 30:
        return "Amavasya"
    return TITHI_NAMES[(number - 1) % 15]


def paksha(tithi: int) -> str:
    """'Shukla' for tithis 1-15 (waxing), 'Krishna' for 16-30 (waning)."""
    return "Shukla" if tithi <= 15 else "Krishna"


def karana_name(number: int) -> str:
    """Name of karana 1..60: Kimstughna first, the seven movable ones cycling, three fixed last."""
    k = number - 1
    if k == 0:
        return "Kimstughna"
    if k >= 57:
        return ("Shakuni", "Chatushpada", "Naga")[k - 57]
    return _MOVABLE_KARANAS[(k - 1) % 7]


def nakshatra_name(number: int) -> str:
    """Name of nakshatra 1..27."""
    return NAKSHATRA_NAMES[number - 1]


def yoga_name(number: int) -> str:
    """Name of yoga 1..27."""
    return YOGA_NAMES[number - 1]


def vaara(weekday_sunday0: int) -> tuple[str, str]:
    """(Sanskrit, English) weekday names for 0 = Sunday .. 6 = Saturday."""
    return VAARA_NAMES[weekday_sunday0]
