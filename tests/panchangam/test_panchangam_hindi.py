"""The day's panchangam in Hindi: every element the calculation can produce has a Devanagari
name, published days read in Hindi as Hindi almanacs print them, and English is unchanged.

Sources for the Hindi days (for DP, VD and MM the English names of the same days are checked
against the same almanacs in test_panchangam_published.py):
- JS: jantaserishta.com "Todays Almanac 28 September 2023" (New Delhi), which prints the day in
  drikpanchang.com's Hindi wording: "तिथि- चतुर्दशी, 06:49 पीएम तक", "नक्षत्र- पूर्व भाद्रपद,
  01:48 एएम, सितम्बर 29 तक", "योग- गण्ड, 11:55 पीएम तक", "करण- गर, 08:33 एएम तक", "वार- गुरुवार",
  "पक्ष- शुक्ल पक्ष".
- TV9: tv9hindi.com panchang of 14 January 2022: "शक सम्वत - 1943, प्लव" (its dash an en dash).
- DP / VD / MM: the drikpanchang.com days of test_panchangam_published.py, whose element names
  are written here as drikpanchang.com's Hindi pages write them.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime

import pytest

from panchangam import (
    compute,
    elements,
    lunar_calendar,
    names_hi,
    summary_text,
    template_parameters,
)
from panchangam.model import Karana, LunarMonth, Nakshatra, Tithi, Vaara, Yoga

DELHI = (28.6139, 77.2090, "Asia/Kolkata")
BENGALURU = (12.9716, 77.5946, "Asia/Kolkata")
VILNIUS = (54.68916, 25.2798, "Europe/Vilnius")
BASE = compute(date(2026, 11, 22), *BENGALURU)
LATE = datetime(2026, 11, 23, 23, 0, tzinfo=BASE.reference.tzinfo)


def devanagari(text: str) -> bool:
    """Non-empty, in Devanagari, with no Latin letter (spaces and signs allowed)."""
    letters = [c for c in text if c.isalpha() or "\u0900" <= c <= "\u097f"]
    return bool(letters) and all("\u0900" <= c <= "\u097f" for c in letters)


def test_every_element_the_calculation_can_produce_has_a_hindi_name() -> None:
    tithis = {(elements.paksha(n), elements.tithi_name(n)) for n in range(1, 31)}
    assert len(tithis) == 30
    karanas = {elements.karana_name(n) for n in range(1, 61)}
    samvatsaras = {lunar_calendar.samvatsara(shaka) for shaka in range(1900, 1960)}
    assert len(samvatsaras) == 60
    checks = [
        *((names_hi.PAKSHA, p) for p, _ in tithis),
        *((names_hi.TITHI, t) for _, t in tithis),
        *((names_hi.NAKSHATRA, elements.nakshatra_name(n)) for n in range(1, 28)),
        *((names_hi.YOGA, elements.yoga_name(n)) for n in range(1, 28)),
        *((names_hi.KARANA, k) for k in karanas),
        *((names_hi.VAARA, elements.vaara(n)[0]) for n in range(7)),
        *((names_hi.MONTH, lunar_calendar.month_name(n)) for n in range(1, 13)),
        *((names_hi.SAMVATSARA, s) for s in samvatsaras),
    ]
    for table, english in checks:
        assert devanagari(table[english]), (english, table.get(english))
    # One Hindi name per English one: no two elements of a kind share a name.
    for table in (names_hi.TITHI, names_hi.NAKSHATRA, names_hi.YOGA, names_hi.KARANA,
                  names_hi.VAARA, names_hi.MONTH, names_hi.SAMVATSARA):  # fmt: skip
        assert len(set(table.values())) == len(table)
    assert len(names_hi.GREGORIAN_MONTHS) == 12


@pytest.mark.parametrize("number", range(1, 31))
def test_every_tithi_renders_in_hindi_with_its_paksha(number: int) -> None:
    name, paksha = elements.tithi_name(number), elements.paksha(number)
    day = replace(BASE, tithi=Tithi(number, name, paksha, LATE))
    params = template_parameters(day, "X", "hi")
    assert (
        params["tithi"] == f"{names_hi.PAKSHA[paksha]} {names_hi.TITHI[name]} 23:00 (23 नवम्बर) तक"
    )
    assert devanagari(params["tithi"].split(" 23:00")[0])


def test_every_nakshatra_yoga_karana_vaara_month_and_samvatsara_renders_in_hindi() -> None:
    for n in range(1, 28):
        day = replace(
            BASE,
            nakshatra=Nakshatra(n, elements.nakshatra_name(n), 3, LATE),
            yoga=Yoga(n, elements.yoga_name(n), LATE),
        )
        params = template_parameters(day, "X", "hi")
        assert params["nakshatra"].startswith(
            f"{names_hi.NAKSHATRA[elements.nakshatra_name(n)]} (पद 3) 23:00"
        )
        assert params["yoga"].startswith(f"{names_hi.YOGA[elements.yoga_name(n)]} 23:00")
    for k in range(1, 61):
        name = elements.karana_name(k)
        day = replace(BASE, karana=Karana(k, name, LATE))
        assert template_parameters(day, "X", "hi")["karana"].startswith(f"{names_hi.KARANA[name]} ")
    for w in range(7):
        sanskrit, english = elements.vaara(w)
        day = replace(BASE, vaara=Vaara(w, sanskrit, english))
        assert template_parameters(day, "X", "hi")["vaara"] == names_hi.VAARA[sanskrit]
    for m in range(1, 13):
        amanta = lunar_calendar.month_name(m)
        purnimanta = lunar_calendar.month_name(m % 12 + 1)
        for adhika in (False, True):
            day = replace(BASE, lunar_month=LunarMonth(amanta, purnimanta, adhika))
            prefix = "अधिक " if adhika else ""
            assert template_parameters(day, "X", "hi")["month"] == (
                f"{prefix}{names_hi.MONTH[amanta]} (अमान्त), "
                f"{prefix}{names_hi.MONTH[purnimanta]} (पूर्णिमान्त)"
            )
    for shaka in range(1900, 1960):
        day = replace(BASE, shaka_year=shaka, samvatsara=lunar_calendar.samvatsara(shaka))
        year = template_parameters(day, "X", "hi")["year"]
        assert year == f"शक {shaka} {names_hi.SAMVATSARA[lunar_calendar.samvatsara(shaka)]}"


def test_the_samvatsara_cycle_is_in_order_from_prabhava_to_akshaya() -> None:
    # Shaka 1942 Sharvari (34th), 1943 Plava (TV9), 1948 Parabhava.
    hindi = list(names_hi.SAMVATSARA.values())
    assert (hindi[0], hindi[14], hindi[33], hindi[34], hindi[39], hindi[59]) == (
        "प्रभव", "वृष", "शार्वरी", "प्लव", "पराभव", "अक्षय",
    )  # fmt: skip
    assert names_hi.SAMVATSARA[lunar_calendar.samvatsara(1943)] == "प्लव"


# (source, date, place, {parameter: its Hindi text; for the four timed elements a pattern,
# times as \d\d:\d\d, as the English test allows the published minute a little slack})
HINDI_DAYS = [
    (
        "JS 2023-09-28 New Delhi (Hindi page)",
        date(2023, 9, 28), DELHI,
        {
            "date": "गुरुवार, 28 सितम्बर 2023",
            "vaara": "गुरुवार",
            "tithi": r"शुक्ल चतुर्दशी 18:\d\d तक",
            "nakshatra": r"पूर्व भाद्रपद \(पद 1\) 01:4\d \(29 सितम्बर\) तक",
            "yoga": r"गण्ड 23:5\d तक",
            "karana": r"गर 08:3\d तक, फिर वणिज 18:\d\d तक",
            "sunrise": "06:12",
            "sunset": "18:11",
            "year": "शक 1945 शोभकृत्",
        },
    ),
    (
        "DP 2020-12-31 New Delhi",
        date(2020, 12, 31), DELHI,
        {
            "date": "गुरुवार, 31 दिसम्बर 2020",
            "vaara": "गुरुवार",
            "tithi": r"कृष्ण प्रतिपदा 09:3\d तक",
            "nakshatra": r"पुनर्वसु \(पद 2\) 19:4\d तक",
            "yoga": r"इन्द्र 14:5\d तक",
            "karana": r"कौलव 09:3\d तक, फिर तैतिल 21:3\d तक",
            "month": "मार्गशीर्ष (अमान्त), पौष (पूर्णिमान्त)",
            "year": "शक 1942 शार्वरी",
        },
    ),
    (
        "DP 2022-01-26 New Delhi",
        date(2022, 1, 26), DELHI,
        {
            "vaara": "बुधवार",
            "tithi": r"कृष्ण नवमी 04:3\d \(27 जनवरी\) तक",
            "nakshatra": r"स्वाती \(पद 4\) 10:0\d तक",
            "yoga": r"गण्ड 04:\d\d \(27 जनवरी\) तक",
            "karana": r"तैतिल 17:3\d तक, फिर गर 04:3\d \(27 जनवरी\) तक",
            "month": "पौष (अमान्त), माघ (पूर्णिमान्त)",
            "year": "शक 1943 प्लव",
        },
    ),
    (
        "MM 2025-11-25 Bengaluru",
        date(2025, 11, 25), BENGALURU,
        {
            "vaara": "मंगलवार",
            "tithi": r"शुक्ल पञ्चमी 22:5\d तक",
            "nakshatra": r"उत्तराषाढ़ा \(पद 2\) 23:5\d तक",
            "yoga": r"गण्ड 12:5\d तक",
            "karana": r"बव 10:1\d तक, फिर बालव 22:5\d तक",
            "year": "शक 1947 विश्वावसु",
        },
    ),
    (
        "VD 2026-05-25 Vilnius, adhika Jyeshtha",
        date(2026, 5, 25), VILNIUS,
        {
            "date": "सोमवार, 25 मई 2026",
            "tithi": r"शुक्ल दशमी 02:\d\d \(26 मई\) तक",
            "nakshatra": r"उत्तर फाल्गुनी \(पद 1\) 01:\d\d \(26 मई\) तक",
            "yoga": r"वज्र 00:4\d \(26 मई\) तक",
            "karana": r"तैतिल 14:1\d तक, फिर गर 02:\d\d \(26 मई\) तक",
            "month": "अधिक ज्येष्ठ (अमान्त), अधिक ज्येष्ठ (पूर्णिमान्त)",
            "year": "शक 1948 पराभव",
        },
    ),
    (
        "VD 2026-06-21 Vilnius",
        date(2026, 6, 21), VILNIUS,
        {
            "vaara": "रविवार",
            "tithi": r"शुक्ल सप्तमी 12:\d\d तक",
            "nakshatra": r"पूर्व फाल्गुनी \(पद \d\) 07:0\d तक",
            "yoga": r"सिद्धि 08:5\d तक",
            "karana": r"वणिज 12:\d\d तक, फिर विष्टि 00:5\d \(22 जून\) तक",
            "month": "ज्येष्ठ (अमान्त), ज्येष्ठ (पूर्णिमान्त)",
        },
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", HINDI_DAYS, ids=[c[0] for c in HINDI_DAYS])
def test_a_published_day_reads_in_hindi_as_hindi_almanacs_name_it(case: tuple) -> None:
    _, day, place, expected = case
    params = template_parameters(compute(day, *place), "स्थान", "hi")
    assert params["place"] == "स्थान"
    for name, text in expected.items():
        if name in ("tithi", "nakshatra", "yoga", "karana"):
            assert re.fullmatch(text, params[name]), f"{name}: {params[name]!r} !~ {text!r}"
        else:
            assert params[name] == text


def test_the_hindi_summary_names_the_same_day_in_hindi() -> None:
    text = summary_text(compute(date(2023, 9, 28), *DELHI), "नई दिल्ली", "hi")
    lines = text.splitlines()
    assert lines[0] == "पञ्चाङ्ग गुरुवार, 28 सितम्बर 2023 - नई दिल्ली"
    assert lines[1] == "सूर्योदय 06:12, सूर्यास्त 18:11 (Asia/Kolkata)"
    assert lines[2] == "वार: गुरुवार"
    assert re.fullmatch(r"तिथि: शुक्ल चतुर्दशी 18:\d\d तक", lines[3])
    assert re.fullmatch(r"नक्षत्र: पूर्व भाद्रपद 01:\d\d \(29 सितम्बर\) तक \(पद 1\)", lines[4])
    assert lines[7].startswith("राहुकाल: 13:4") and lines[8].startswith("यमगण्ड: 06:1")
    assert lines[9].startswith("गुलिक काल: 09:1")
    assert lines[-2:] == ["मास: भाद्रपद (अमान्त), भाद्रपद (पूर्णिमान्त)", "शक 1945 शोभकृत्"]


def test_a_day_without_sunrise_says_so_in_hindi() -> None:
    day = compute(date(2026, 6, 21), 78.22, 15.65, "Arctic/Longyearbyen")
    assert day.sunrise is None
    params = template_parameters(day, "Longyearbyen", "hi")
    assert params["sunrise"] == "आज नहीं (अंग 06:00 के अनुसार)"
    assert params["sunset"] == "आज नहीं"
    assert params["rahu_kalam"] == "आज नहीं (सूर्योदय नहीं)"
    assert "आज सूर्योदय नहीं: अंग 06:00 के अनुसार" in summary_text(day, None, "hi")


def test_english_stays_the_default_and_an_unknown_language_is_refused() -> None:
    assert summary_text(BASE, "Bengaluru") == summary_text(BASE, "Bengaluru", "en")
    assert template_parameters(BASE, "Bengaluru") == template_parameters(
        BASE, "Bengaluru", language="en"
    )
    assert summary_text(BASE, "Bengaluru").startswith("Panchangam Sun 22 Nov 2026 - Bengaluru")
    with pytest.raises(ValueError, match="language must be one of en, hi"):
        template_parameters(BASE, "X", "ta")
