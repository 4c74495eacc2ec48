"""Ayanamsa check value and the weekday tables of Rahu kalam, Yamaganda and Gulika."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from panchangam import astro, compute, kalam
from panchangam.ayanamsa import lahiri_deg

DELHI = (28.6139, 77.2090, "Asia/Kolkata")


def test_lahiri_ayanamsa_matches_indian_astronomical_ephemeris_on_2019_01_01() -> None:
    # Indian Astronomical Ephemeris: true Lahiri ayanamsa 24 deg 07' 05.99" at 2019-01-01 0h UT.
    published = 24 + 7 / 60 + 5.99 / 3600
    tt = astro.tt_jd(datetime(2019, 1, 1, tzinfo=UTC).timestamp())
    assert abs(lahiri_deg(tt) - published) * 3600 < 1.0


def test_result_reports_the_ayanamsa_at_its_reference_instant() -> None:
    result = compute(date(2019, 1, 1), 0.0, 0.0, "UTC")
    assert 24.11 < result.ayanamsa_deg < 24.13


# Which eighth of the sunrise-to-sunset day each period is, Sunday..Saturday (the usual
# table of Hindu almanacs).
RAHU = (8, 2, 7, 5, 6, 4, 3)
YAMA = (5, 4, 3, 2, 1, 7, 6)
GULIKA = (7, 6, 5, 4, 3, 2, 1)


@pytest.mark.parametrize("offset", range(7))
def test_kalams_follow_the_weekday_tables_for_every_weekday(offset: int) -> None:
    day = date(2024, 3, 3) + timedelta(days=offset)  # 2024-03-03 is a Sunday
    weekday = (day.weekday() + 1) % 7
    assert weekday == offset
    result = compute(day, *DELHI)
    assert result.sunrise is not None and result.sunset is not None
    eighth = (result.sunset - result.sunrise) / 8
    for span, table in (
        (result.rahu_kalam, RAHU),
        (result.yamaganda, YAMA),
        (result.gulika_kalam, GULIKA),
    ):
        assert span is not None
        start = result.sunrise + eighth * (table[weekday] - 1)
        assert abs((span.start - start).total_seconds()) <= 1
        assert abs((span.end - (start + eighth)).total_seconds()) <= 1


def test_eighth_rejects_a_part_outside_one_to_eight() -> None:
    rise = datetime(2024, 1, 1, 6, tzinfo=UTC)
    with pytest.raises(ValueError, match="part"):
        kalam.eighth(rise, rise + timedelta(hours=12), 9)


def test_delhi_2022_01_24_kalams_match_drikpanchang() -> None:
    # drikpanchang.com Bengali panjika, New Delhi, Monday 2022-01-24: Rahu 08:33-09:53,
    # Yamaganda 11:13-12:33.
    result = compute(date(2022, 1, 24), *DELHI)
    assert result.rahu_kalam is not None and result.yamaganda is not None

    def minute(moment: datetime) -> str:
        return (moment + timedelta(seconds=30)).strftime("%H:%M")  # drikpanchang rounds

    assert minute(result.rahu_kalam.start) == "08:33"
    assert minute(result.rahu_kalam.end) == "09:53"
    assert minute(result.yamaganda.start) == "11:13"
    assert minute(result.yamaganda.end) == "12:33"
