"""The WhatsApp template we ship and the parameters we fill it with stay within Meta's limits:
no newline, tab or run of 5+ spaces in a parameter, and a body of at most 1,024 characters, in
every language we ship it in (English and Hindi); and `panchang template` shows, pushes and
reads back each language."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

import panchangam
from cli import main
from core.errors import ValidationError
from core.settings import Settings
from panchangam import elements, lunar_calendar, names_hi
from panchangam.model import Karana, LunarMonth, Nakshatra, Tithi, Vaara, Yoga
from subscribers.fields import CITY_NAME_MAX
from whatsapp.template import BODY_MAX_CHARS, load, load_all

TEMPLATE = load()
TEMPLATES = load_all()  # by language: en, hi
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


def assert_within_limits(params: dict[str, str], language: str = "en") -> None:
    template = TEMPLATES[language]
    assert template.problems(params) == [], params
    for text in params.values():
        assert "\n" not in text and "\t" not in text and "     " not in text
    # Characters, not bytes: Devanagari counts one per code point, as Meta counts.
    assert len(template.render(params)) <= BODY_MAX_CHARS


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
            place = rng.choice(PLACES)
            params = panchangam.template_parameters(result, place)
            assert_within_limits(params)
            hindi = panchangam.template_parameters(result, place, "hi")
            assert_within_limits(hindi, "hi")
            assert hindi["place"] == params["place"]
            # The Hindi names are Devanagari: no English element name is left in them.
            assert all(_devanagari(hindi[k]) for k in ("vaara", "tithi", "yoga", "karana"))
            for language in ("en", "hi"):
                assert len(panchangam.summary_text(result, place, language)) <= BODY_MAX_CHARS
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


def test_the_longest_hindi_names_on_every_element_with_a_second_element_each_still_fit() -> None:
    """As above, in Hindi: the English names whose Hindi forms are longest."""
    zone = ZoneInfo("America/St_Johns")
    base = panchangam.compute(date(2026, 5, 25), 47.56, -52.71, "America/St_Johns")
    late = datetime(2026, 5, 26, 23, 59, tzinfo=zone)

    def longest_hi(table: dict[str, str]) -> str:
        return max(table, key=lambda english: len(table[english]))

    tithi, nakshatra = longest_hi(names_hi.TITHI), longest_hi(names_hi.NAKSHATRA)
    yoga, karana = longest_hi(names_hi.YOGA), longest_hi(names_hi.KARANA)
    worst = replace(
        base,
        vaara=Vaara(3, longest_hi(names_hi.VAARA), "Wednesday"),
        tithi=Tithi(11, tithi, "Krishna", late, Tithi(12, tithi, "Krishna", late)),
        nakshatra=Nakshatra(1, nakshatra, 4, late, Nakshatra(2, nakshatra, 1, late)),
        yoga=Yoga(1, yoga, late, Yoga(2, yoga, late)),
        karana=Karana(1, karana, late, Karana(2, karana, late)),
        lunar_month=LunarMonth(longest_hi(names_hi.MONTH), longest_hi(names_hi.MONTH), True),
        samvatsara=longest_hi(names_hi.SAMVATSARA),
    )
    params = panchangam.template_parameters(worst, "y" * CITY_NAME_MAX, "hi")
    assert_within_limits(params, "hi")
    assert "फिर" in params["tithi"] and "अधिक" in params["month"]
    assert len(panchangam.summary_text(worst, "y" * CITY_NAME_MAX, "hi")) <= BODY_MAX_CHARS


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


def _devanagari(text: str) -> bool:
    return any("\u0900" <= c <= "\u097f" for c in text) and not any(
        c.isascii() and c.isalpha() for c in text
    )


def test_each_language_is_valid_with_its_own_examples_and_has_the_same_parameters() -> None:
    assert list(TEMPLATES) == ["en", "hi"]
    for language, template in TEMPLATES.items():
        assert (template.name, template.language, template.category) == (
            "daily_panchangam", language, "MARKETING",
        )  # fmt: skip
        assert (
            set(template.examples) == set(template.parameter_names) == set(TEMPLATE.parameter_names)
        )
        assert_within_limits(template.examples, language)
        assert not template.body.startswith("{{") and not template.body.rstrip().endswith("}}")
    hindi = TEMPLATES["hi"]
    assert load("daily_panchangam", "hi") is hindi
    assert "STOP" in hindi.body and "बंद" in hindi.body  # how to stop, in Hindi too
    assert _devanagari(hindi.examples["tithi"]) and "तिथि" in hindi.body
    with pytest.raises(ValidationError, match="shipped in en, hi"):
        load("daily_panchangam", "ta")


def test_the_hindi_examples_are_what_the_renderer_writes_for_their_day() -> None:
    # Bengaluru, 22 Nov 2026: the day the English examples were taken from.
    day = panchangam.compute(date(2026, 11, 22), 12.9716, 77.5946, "Asia/Kolkata")
    assert panchangam.template_parameters(day, "Bengaluru") == TEMPLATES["en"].examples
    assert panchangam.template_parameters(day, "Bengaluru", "hi") == TEMPLATES["hi"].examples


def cli(settings: Settings, api: Any, *args: str, **env: str) -> Any:
    env = {
        "DATABASE_URL": settings.database_url, "WHATSAPP_API_URL": api.api_url,
        "WHATSAPP_TOKEN": api.token, "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
        "WHATSAPP_WABA_ID": "102290129340398", **env,
    }  # fmt: skip
    return CliRunner().invoke(main, list(args), env=env)


def test_template_show_shows_every_language_with_its_code_at_meta(settings: Settings) -> None:
    result = CliRunner().invoke(
        main, ["template", "show", "--json"],
        env={"WHATSAPP_TOKEN": "", "WHATSAPP_TEMPLATE_LANGUAGE": "en_US"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert (shown["name"], shown["category"]) == ("daily_panchangam", "MARKETING")
    assert shown["parameters"] == TEMPLATE.parameter_names
    assert [(t["language"], t["shipped_as"]) for t in shown["languages"]] == [
        ("en_US", "en"), ("hi", "hi"),
    ]  # fmt: skip
    assert shown["languages"][1]["body"] == TEMPLATES["hi"].body
    assert shown["languages"][1]["examples"] == TEMPLATES["hi"].examples
    text = CliRunner().invoke(main, ["template", "show"], env={"WHATSAPP_TOKEN": ""})
    assert "daily_panchangam (MARKETING, en, named parameters)" in text.stdout
    assert "daily_panchangam (MARKETING, hi, named parameters)" in text.stdout
    assert "वार: {{vaara}}" in text.stdout


def test_template_push_creates_each_language_and_status_reads_both_back(
    settings: Settings, cloud_api: Any
) -> None:
    pushed = cli(settings, cloud_api, "template", "push", "--json")
    assert pushed.exit_code == 0, pushed.output
    answers = json.loads(pushed.stdout)
    assert [(a["language"], a["status"]) for a in answers] == [("en", "PENDING"), ("hi", "PENDING")]
    stored = {t["language"]: t for t in cloud_api.templates()}
    assert set(stored) == {"en", "hi"}
    for language, template in stored.items():
        assert template["name"] == "daily_panchangam"
        assert template["components"] == TEMPLATES[language].creation_request()["components"]
    first = cli(settings, cloud_api, "template", "status")
    assert first.exit_code == 0, first.output
    assert "daily_panchangam  en        PENDING" in first.stdout
    assert "daily_panchangam  hi        PENDING" in first.stdout
    second = json.loads(cli(settings, cloud_api, "template", "status", "--json").stdout)
    assert sorted((t["language"], t["status"]) for t in second) == [
        ("en", "APPROVED"), ("hi", "APPROVED"),
    ]  # fmt: skip
    again = cli(settings, cloud_api, "template", "push")
    assert again.exit_code == 1
    assert "Content in this language already exists" in again.stderr
    assert "language en; submitted before it: none" in again.stderr


def test_template_push_of_one_language_and_status_names_the_one_missing(
    settings: Settings, cloud_api: Any
) -> None:
    pushed = cli(
        settings, cloud_api, "template", "push", "--language", "en",
        WHATSAPP_TEMPLATE_LANGUAGE="en_US",
    )  # fmt: skip
    assert pushed.exit_code == 0, pushed.output
    assert pushed.stdout.startswith("submitted daily_panchangam (en_US): id ")
    assert [t["language"] for t in cloud_api.templates()] == ["en_US"]
    status = cli(settings, cloud_api, "template", "status", WHATSAPP_TEMPLATE_LANGUAGE="en_US")
    assert "not at Meta: hi; `panchang template push --language hi` submits it" in status.stdout
    hindi = cli(settings, cloud_api, "template", "push", "--language", "hi")
    assert hindi.exit_code == 0, hindi.output
    assert sorted(t["language"] for t in cloud_api.templates()) == ["en_US", "hi"]
