"""Property tests over random dates and places (bounded so the file runs in seconds)."""

from __future__ import annotations

import math
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from panchangam import astro, compute
from panchangam.ayanamsa import lahiri_deg


def _zone_for(longitude: float) -> str:
    # A zone whose offset fits the longitude, as real zones roughly do; a far-off zone can put
    # the sunset before the sunrise inside one local date, which is real but not this test.
    hours = max(-12, min(12, round(longitude / 15.0)))
    return "UTC" if hours == 0 else f"Etc/GMT{-hours:+d}"  # Etc signs are inverted


places = st.tuples(
    st.floats(min_value=-60.0, max_value=60.0),
    st.floats(min_value=-180.0, max_value=180.0),
).map(lambda p: (p[0], p[1], _zone_for(p[1])))
days = st.dates(min_value=date(1990, 1, 1), max_value=date(2050, 12, 31))
common = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


def _direct(posix: float) -> dict[str, int]:
    """Element numbers straight from the definitions: tithi = floor(elongation / 12 deg) + 1,
    karana from half-tithis of 6 deg, nakshatra = floor(sidereal Moon / 13 deg 20') + 1, yoga
    from the sidereal sum of Sun and Moon in the same 27 spans."""
    sun, moon, tt = astro.longitudes(posix)
    ayan = lahiri_deg(tt)
    elong = (moon - sun) % 360.0
    span = 360.0 / 27.0
    return {
        "tithi": math.floor(elong / 12.0) + 1,
        "karana": math.floor(elong / 6.0) + 1,
        "nakshatra": math.floor(((moon - ayan) % 360.0) / span) + 1,
        "yoga": math.floor(((sun + moon - 2 * ayan) % 360.0) / span) + 1,
    }


COUNTS = {"tithi": 30, "karana": 60, "nakshatra": 27, "yoga": 27}


@common
@given(day=days, place=places)
def test_elements_at_sunrise_match_a_direct_evaluation_of_the_formulas(day, place) -> None:
    result = compute(day, *place)
    direct = _direct(result.reference.timestamp())
    for kind, number in direct.items():
        assert getattr(result, kind).number == number, kind


@common
@given(day=days, place=places)
def test_end_times_fall_after_sunrise_and_elements_advance_in_order(day, place) -> None:
    result = compute(day, *place)
    ref = result.reference
    day_end = result.next_sunrise or ref + timedelta(days=1)
    assert result.sunrise is not None and result.sunset is not None
    assert result.sunrise < result.sunset
    for kind, count in COUNTS.items():
        element = getattr(result, kind)
        assert element.ends_at > ref, kind
        following = element.next
        if following is not None:
            assert following.number == element.number % count + 1, kind
            assert element.ends_at < following.ends_at < day_end, kind
        else:
            # No next: whatever is in force just before the next sunrise is this element (if
            # it outlives the day) or the one after it, never a third.
            at_day_end = _direct(day_end.timestamp() - 1)[kind]
            expected = element.number if element.ends_at >= day_end else element.number % count + 1
            assert at_day_end == expected, kind
        # Just before its end the element is still in force; just after, the next one is.
        before = _direct(element.ends_at.timestamp() - 5)[kind]
        after = _direct(element.ends_at.timestamp() + 5)[kind]
        assert before == element.number, kind
        assert after == element.number % count + 1, kind


@settings(max_examples=8, deadline=None, derandomize=True)
@given(day=days, place=places)
def test_sunrise_agrees_with_skyfields_own_risings_search(day, place) -> None:
    from skyfield import almanac
    from skyfield.api import wgs84

    st_ = astro._load()
    result = compute(day, *place)
    assert result.sunrise is not None
    ts = st_["ts"]
    start = ts.from_datetime(result.sunrise - timedelta(hours=1))
    end = ts.from_datetime(result.sunrise + timedelta(hours=1))
    observer = st_["earth"] + wgs84.latlon(place[0], place[1])
    times, _ = almanac.find_risings(observer, st_["sun"], start, end)
    assert len(times) >= 1
    assert abs(times[0].utc_datetime() - result.sunrise).total_seconds() < 10


@settings(max_examples=8, deadline=None, derandomize=True)
@given(day=days, place=places)
def test_moonrise_and_moonset_agree_with_skyfields_search_for_the_disc_centre(day, place) -> None:
    from skyfield import almanac
    from skyfield.api import wgs84

    st_ = astro._load()
    result = compute(day, *place)
    observer = st_["earth"] + wgs84.latlon(place[0], place[1])
    ts = st_["ts"]
    # Rising and setting are ~12 h apart, so at |latitude| <= 60 a day has at least one.
    assert result.moonrise is not None or result.moonset is not None
    for ours, find in (
        (result.moonrise, almanac.find_risings),
        (result.moonset, almanac.find_settings),
    ):
        if ours is None:
            continue  # the Moon skips one rising and one setting a month; compute() says None
        window = (
            ts.from_datetime(ours - timedelta(hours=1)),
            ts.from_datetime(ours + timedelta(hours=1)),
        )
        # Drikpanchang's rule: topocentric centre of the disc on the true horizon.
        times, _ = find(observer, st_["moon"], *window, horizon_degrees=0.0)
        assert len(times) >= 1
        assert abs(times[0].utc_datetime() - ours).total_seconds() < 10
