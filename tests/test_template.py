"""The WhatsApp template we ship and the parameters we fill it with stay within Meta's limits:
no newline, tab or run of 5+ spaces in a parameter, and a body of at most 1,024 characters."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

import panchangam
from core.errors import ValidationError
from panchangam import elements, lunar_calendar
from panchangam.model import Karana, LunarMonth, Nakshatra, Tithi, Vaara, Yoga
from subscribers.fields import CITY_NAME_MAX
from whatsapp.template import BODY_MAX_CHARS, load

TEMPLATE = load()
ZONES = [
    "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns", "Pacific/Chatham", "Europe/Oslo",
    "Arctic/Longyearbyen", "America/Anchorage", "Antarctica/McMurdo", "Pacific/Kiritimati",
    "America/Nuuk", "Atlantic/Reykjavik", "Asia/Tokyo", "Australia/Lord_Howe", "UTC",
]  # fmt: skip
# Place names as people type them: long, with tabs, newlines and runs of spaces.
PLACES = [
    "Bengaluru", "Tromsø", "São Paulo", "Thiruvananthapuram\t(Trivandrum)",
    "Ny-Ålesund,\n  Svalbard", "  Longyearbyen     Svalbard  ", "x" * CITY_NAME_MAX,
    "Llanfair pwllgwyngyll gogerychwyrn drobwll llantysilio gogogoch " * 2,
]  # fmt: skip


def assert_within_limits(params: dict[str, str]) -> None:
    assert TEMPLATE.problems(params) == [], params
    for text in params.values():
        assert "\n" not in text and "\t" not in text and "     " not in text
    assert len(TEMPLATE.render(params)) <= BODY_MAX_CHARS


def test_the_shipped_template_is_valid_with_its_own_examples() -> None:
    assert TEMPLATE.name == "daily_panchangam"
    assert set(TEMPLATE.examples) == set(TEMPLATE.parameter_names)
    assert_within_limits(TEMPLATE.examples)
    assert not TEMPLATE.body.startswith("{{") and not TEMPLATE.body.rstrip().endswith("}}")


def test_a_thousand_random_place_dates_fill_the_template_within_every_limit() -> None:
    rng = random.Random(1000)
    seen: dict[str, set[str]] = {k: set() for k in ("tithi", "nakshatra", "yoga", "karana")}
    polar = 0
    for _ in range(200):
        day = date(1950, 1, 1) + timedelta(days=rng.randrange(100 * 365))
        for _ in range(5):
            # A third of the places beyond the polar circles, where the Sun may not rise.
            high = rng.random() < 1 / 3
            lat = rng.uniform(66.6, 89.9) * rng.choice((1, -1)) if high else rng.uniform(-66, 66)
            result = panchangam.compute(day, lat, rng.uniform(-180, 180), rng.choice(ZONES))
            params = panchangam.template_parameters(result, rng.choice(PLACES))
            assert_within_limits(params)
            polar += result.sunrise is None
            for kind, element in (
                ("tithi", result.tithi), ("nakshatra", result.nakshatra),
                ("yoga", result.yoga), ("karana", result.karana),
            ):  # fmt: skip
                seen[kind].add(element.name)
    assert polar > 20  # days with no sunrise really were in the sample
    # Every name each element can take came up.
    assert seen["tithi"] == {elements.tithi_name(n) for n in range(1, 31)}
    assert seen["nakshatra"] == set(elements.NAKSHATRA_NAMES)
    assert seen["yoga"] == set(elements.YOGA_NAMES)
    assert seen["karana"] == {elements.karana_name(n) for n in range(1, 61)}


def longest(names: tuple[str, ...] | list[str]) -> str:
    return max(names, key=len)


def test_the_longest_names_on_every_element_with_a_second_element_each_still_fit() -> None:
    """The worst case by construction: the longest name of every element, each followed by a
    next one ending on another date, an adhika month, the longest place name."""
    zone = ZoneInfo("America/St_Johns")
    base = panchangam.compute(date(2026, 5, 25), 47.56, -52.71, "America/St_Johns")
    late = datetime(2026, 5, 26, 23, 59, tzinfo=zone)
    tithi_name = longest([elements.tithi_name(n) for n in range(1, 31)])
    worst = replace(
        base,
        vaara=Vaara(3, longest([v[0] for v in elements.VAARA_NAMES]), "Wednesday"),
        tithi=Tithi(11, tithi_name, "Krishna", late, Tithi(12, tithi_name, "Krishna", late)),
        nakshatra=Nakshatra(
            1,
            longest(elements.NAKSHATRA_NAMES),
            4,
            late,
            Nakshatra(2, longest(elements.NAKSHATRA_NAMES), 1, late),
        ),
        yoga=Yoga(
            1, longest(elements.YOGA_NAMES), late, Yoga(2, longest(elements.YOGA_NAMES), late)
        ),
        karana=Karana(
            1,
            "Chatushpada",
            late,
            Karana(2, longest([elements.karana_name(n) for n in range(1, 61)]), late),
        ),
        lunar_month=LunarMonth(
            longest(lunar_calendar.MONTH_NAMES), longest(lunar_calendar.MONTH_NAMES), True
        ),
        samvatsara=longest(lunar_calendar.SAMVATSARA_NAMES),
    )
    params = panchangam.template_parameters(worst, "y" * CITY_NAME_MAX)
    assert_within_limits(params)
    assert "then" in params["tithi"] and "Adhika" in params["month"]


def test_parameters_that_break_a_rule_are_refused_before_anything_is_sent() -> None:
    params = dict(TEMPLATE.examples)
    params["place"] = "Line one\nline two"
    with pytest.raises(ValidationError, match="parameter place has a newline"):
        TEMPLATE.body_component(params)
    params = dict(TEMPLATE.examples, place="x" * 700)
    with pytest.raises(ValidationError, match="over 1024"):
        TEMPLATE.body_component(params)
    with pytest.raises(ValidationError, match=r"missing parameters \['year'\]"):
        TEMPLATE.body_component({k: v for k, v in TEMPLATE.examples.items() if k != "year"})


def test_a_send_names_each_parameter_in_the_bodys_order() -> None:
    component = TEMPLATE.body_component(TEMPLATE.examples)
    assert component["type"] == "body"
    assert [p["parameter_name"] for p in component["parameters"]] == TEMPLATE.parameter_names
    assert {p["type"] for p in component["parameters"]} == {"text"}


def test_the_creation_request_has_an_example_for_every_named_parameter() -> None:
    request = TEMPLATE.creation_request()
    assert (request["name"], request["category"], request["language"]) == (
        "daily_panchangam", "MARKETING", "en",
    )  # fmt: skip
    assert request["parameter_format"] == "NAMED"
    [body] = request["components"]
    named = body["example"]["body_text_named_params"]
    assert [p["param_name"] for p in named] == TEMPLATE.parameter_names
    assert all(p["example"] for p in named)
