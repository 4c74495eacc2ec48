"""Lunar month (amanta and purnimanta, with adhika), Shaka year and samvatsara.

Amanta months run new moon to new moon and take their name from the sidereal sign the Sun
is in at the new moon that starts them (Sun in Mina -> Chaitra). A month with no solar
ingress (sankranti), i.e. the Sun in the same sign at both of its new moons, is adhika: a
leap month bearing the next month's name. Purnimanta months run full moon to full moon, so in
the Krishna paksha they are one name ahead; during an adhika month both systems call the
whole amanta month adhika, as drikpanchang.com does.
"""

from __future__ import annotations

from datetime import date

from panchangam.sky import NewMoon

MONTH_NAMES = (
    "Chaitra", "Vaishakha", "Jyeshtha", "Ashadha", "Shravana", "Bhadrapada",
    "Ashwin", "Kartika", "Margashirsha", "Pausha", "Magha", "Phalguna",
)  # fmt: skip

# The 60-year cycle in the order used with the Shaka era (Shaka 1942 = Sharvari, 34th).
SAMVATSARA_NAMES = (
    "Prabhava", "Vibhava", "Shukla", "Pramoda", "Prajapati", "Angirasa", "Shrimukha",
    "Bhava", "Yuva", "Dhatri", "Ishvara", "Bahudhanya", "Pramathi", "Vikrama", "Vrisha",
    "Chitrabhanu", "Svabhanu", "Tarana", "Parthiva", "Vyaya", "Sarvajit", "Sarvadhari",
    "Virodhi", "Vikriti", "Khara", "Nandana", "Vijaya", "Jaya", "Manmatha", "Durmukha",
    "Hevilambi", "Vilambi", "Vikari", "Sharvari", "Plava", "Shubhakrit", "Shobhakrit",
    "Krodhi", "Vishvavasu", "Parabhava", "Plavanga", "Kilaka", "Saumya", "Sadharana",
    "Virodhikrit", "Paridhavi", "Pramadi", "Ananda", "Rakshasa", "Nala", "Pingala",
    "Kalayukta", "Siddharthi", "Raudra", "Durmati", "Dundubhi", "Rudhirodgari",
    "Raktakshi", "Krodhana", "Akshaya",
)  # fmt: skip


def amanta_month(new_moons: tuple[NewMoon, ...], instant: float) -> tuple[int, bool]:
    """(month 1 = Chaitra .. 12 = Phalguna, adhika) of the amanta month holding `instant`."""
    before = [m for m in new_moons if m.posix <= instant]
    after = [m for m in new_moons if m.posix > instant]
    if not before or not after:
        raise RuntimeError("new moons around the instant are missing from the sky window")
    start, end = before[-1], after[0]
    return start.sun_rashi % 12 + 1, start.sun_rashi == end.sun_rashi


def purnimanta_month(amanta: int, adhika: bool, tithi: int) -> int:
    """Purnimanta month number: one ahead of amanta in the Krishna paksha, except adhika."""
    if tithi <= 15 or adhika:
        return amanta
    return amanta % 12 + 1


def month_name(number: int) -> str:
    """Name of lunar month 1 = Chaitra .. 12 = Phalguna."""
    return MONTH_NAMES[number - 1]


def shaka_year(local_date: date, amanta: int) -> int:
    """Shaka era year; it begins with amanta Chaitra (March or April).

    From January to April, a month from Margashirsha to Phalguna still belongs to the year
    that began the previous spring.
    """
    if local_date.month <= 4 and amanta >= 9:
        return local_date.year - 79
    return local_date.year - 78


def samvatsara(shaka: int) -> str:
    """Name of the 60-year cycle year for a Shaka year (1942 -> Sharvari)."""
    return SAMVATSARA_NAMES[(shaka + 11) % 60]
