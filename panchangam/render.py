"""The result as a JSON-ready dict and as message text (WhatsApp body, at most 1,024 chars).

Message text and template parameters come in English (`en`, the default) or Hindi (`hi`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from panchangam import names_hi
from panchangam.elements import VAARA_NAMES
from panchangam.model import Karana, Nakshatra, Panchangam, TimeSpan, Tithi, Yoga

# The languages a message can be rendered in (as `models.user.LANGUAGES`).
LANGUAGES = ("en", "hi")

MAX_MESSAGE_CHARS = 1024


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


def _span(span: TimeSpan | None) -> dict[str, str | None] | None:
    return None if span is None else {"start": _iso(span.start), "end": _iso(span.end)}


def _tithi(t: Tithi) -> dict[str, Any]:
    out: dict[str, Any] = {
        "number": t.number,
        "name": t.name,
        "paksha": t.paksha,
        "ends_at": _iso(t.ends_at),
    }
    if t.next is not None:
        out["next"] = _tithi(t.next)
    return out


def _nakshatra(n: Nakshatra) -> dict[str, Any]:
    out: dict[str, Any] = {
        "number": n.number,
        "name": n.name,
        "pada": n.pada,
        "ends_at": _iso(n.ends_at),
    }
    if n.next is not None:
        out["next"] = _nakshatra(n.next)
    return out


def _yoga(y: Yoga) -> dict[str, Any]:
    out: dict[str, Any] = {"number": y.number, "name": y.name, "ends_at": _iso(y.ends_at)}
    if y.next is not None:
        out["next"] = _yoga(y.next)
    return out


def _karana(k: Karana) -> dict[str, Any]:
    out: dict[str, Any] = {"name": k.name, "ends_at": _iso(k.ends_at)}
    if k.next is not None:
        out["next"] = _karana(k.next)
    return out


def to_json_dict(result: Panchangam) -> dict[str, Any]:
    """The result as plain JSON types; times are ISO 8601 with the zone's offset.

    `next` appears inside tithi/nakshatra/yoga/karana only when the following element also
    ends before the next sunrise.
    """
    return {
        "date": result.date.isoformat(),
        "timezone": result.timezone,
        "sunrise": _iso(result.sunrise),
        "sunset": _iso(result.sunset),
        "moonrise": _iso(result.moonrise),
        "moonset": _iso(result.moonset),
        "vaara": {"name": result.vaara.name, "english": result.vaara.english},
        "tithi": _tithi(result.tithi),
        "nakshatra": _nakshatra(result.nakshatra),
        "yoga": _yoga(result.yoga),
        "karana": _karana(result.karana),
        "rahu_kalam": _span(result.rahu_kalam),
        "yamaganda": _span(result.yamaganda),
        "gulika_kalam": _span(result.gulika_kalam),
        "lunar_month": {
            "amanta": result.lunar_month.amanta,
            "purnimanta": result.lunar_month.purnimanta,
            "adhika": result.lunar_month.adhika,
        },
        "shaka_year": result.shaka_year,
        "samvatsara": result.samvatsara,
        "ayanamsa_deg": round(result.ayanamsa_deg, 6),
    }


def _hm(moment: datetime | None, day: datetime | None = None, language: str = "en") -> str:
    """'07:14', or '02:03 (Jan 27)' when the time falls on another date than `day`.

    In Hindi: 'नहीं' for none and '02:03 (27 जनवरी)'; times keep Western digits, as
    drikpanchang.com's Hindi pages print them.
    """
    hindi = language == "hi"
    if moment is None:
        return "नहीं" if hindi else "none"
    # Nearest minute, as printed almanacs (drikpanchang.com among them) round.
    moment = moment + timedelta(seconds=30)
    text = moment.strftime("%H:%M")
    if day is not None and moment.date() != day.date():
        if hindi:
            text += f" ({moment.day} {names_hi.GREGORIAN_MONTHS[moment.month - 1]})"
        else:
            text += moment.strftime(" (%b %d)")
    return text


def _until(name: str, ends_at: datetime, day: datetime, language: str = "en") -> str:
    if language == "hi":
        return f"{name} {_hm(ends_at, day, language)} तक"
    return f"{name} until {_hm(ends_at, day)}"


def _name(element: Tithi | Nakshatra | Yoga | Karana, language: str) -> str:
    """The element's name in `language` (the model holds the English one)."""
    if language != "hi":
        return element.name
    if isinstance(element, Tithi):
        return names_hi.TITHI[element.name]
    if isinstance(element, Nakshatra):
        return names_hi.NAKSHATRA[element.name]
    if isinstance(element, Yoga):
        return names_hi.YOGA[element.name]
    return names_hi.KARANA[element.name]


def _chain(
    first: Tithi | Nakshatra | Yoga | Karana, label: str, day: datetime, language: str = "en"
) -> str:
    text = _until(label, first.ends_at, day, language)
    if first.next is not None:
        then = "फिर" if language == "hi" else "then"
        text += f", {then} {_until(_name(first.next, language), first.next.ends_at, day, language)}"
    return text


def _check(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")


def _hindi_date(result: Panchangam) -> str:
    """'रविवार, 22 नवम्बर 2026': the civil weekday and date, as the English '%a %d %b %Y'."""
    day = result.date
    weekday = names_hi.VAARA[VAARA_NAMES[(day.weekday() + 1) % 7][0]]
    return f"{weekday}, {day.day} {names_hi.GREGORIAN_MONTHS[day.month - 1]} {day.year}"


def _hindi_month(result: Panchangam) -> str:
    month = result.lunar_month
    adhika = f"{names_hi.ADHIKA} " if month.adhika else ""
    return (
        f"{adhika}{names_hi.MONTH[month.amanta]} (अमान्त), "
        f"{adhika}{names_hi.MONTH[month.purnimanta]} (पूर्णिमान्त)"
    )


def _hindi_year(result: Panchangam) -> str:
    return f"शक {result.shaka_year} {names_hi.SAMVATSARA[result.samvatsara]}"


def summary_text(result: Panchangam, place_name: str | None = None, language: str = "en") -> str:
    """A readable multi-line summary for a message body (always under 1,024 characters).

    `language` is 'en' (English) or 'hi' (Hindi: Devanagari names, times in Western digits).
    """
    _check(language)
    if language == "hi":
        return _summary_text_hi(result, place_name)
    day = result.reference
    month = result.lunar_month
    adhika = "Adhika " if month.adhika else ""
    where = f" - {place_name}" if place_name else ""
    t = result.tithi
    lines = [
        f"Panchangam {result.date:%a %d %b %Y}{where}",
        f"Sunrise {_hm(result.sunrise)}, sunset {_hm(result.sunset)} ({result.timezone})",
        f"Vaara: {result.vaara.name} ({result.vaara.english})",
        f"Tithi: {t.paksha} " + _chain(t, t.name, day),
        f"Nakshatra: {_chain(result.nakshatra, result.nakshatra.name, day)}"
        f" (pada {result.nakshatra.pada})",
        f"Yoga: {_chain(result.yoga, result.yoga.name, day)}",
        f"Karana: {_chain(result.karana, result.karana.name, day)}",
    ]
    for label, span in (
        ("Rahu kalam", result.rahu_kalam),
        ("Yamaganda", result.yamaganda),
        ("Gulika kalam", result.gulika_kalam),
    ):
        if span is not None:
            lines.append(f"{label}: {_hm(span.start)}-{_hm(span.end)}")
    if result.sunrise is None:
        lines.append(f"No sunrise today: elements as at {_hm(result.reference)}")
    lines.append(f"Month: {adhika}{month.amanta} (amanta), {adhika}{month.purnimanta} (purnimanta)")
    lines.append(f"Shaka {result.shaka_year} {result.samvatsara}")
    text = "\n".join(lines)
    return text[:MAX_MESSAGE_CHARS]


def _summary_text_hi(result: Panchangam, place_name: str | None) -> str:
    hi = "hi"
    day = result.reference
    where = f" - {place_name}" if place_name else ""
    t = result.tithi
    n = result.nakshatra
    lines = [
        f"पञ्चाङ्ग {_hindi_date(result)}{where}",
        f"सूर्योदय {_hm(result.sunrise, language=hi)}, सूर्यास्त {_hm(result.sunset, language=hi)}"
        f" ({result.timezone})",
        f"वार: {names_hi.VAARA[result.vaara.name]}",
        f"तिथि: {names_hi.PAKSHA[t.paksha]} " + _chain(t, _name(t, hi), day, hi),
        f"नक्षत्र: {_chain(n, _name(n, hi), day, hi)} (पद {n.pada})",
        f"योग: {_chain(result.yoga, _name(result.yoga, hi), day, hi)}",
        f"करण: {_chain(result.karana, _name(result.karana, hi), day, hi)}",
    ]
    for label, span in (
        ("राहुकाल", result.rahu_kalam),
        ("यमगण्ड", result.yamaganda),
        ("गुलिक काल", result.gulika_kalam),
    ):
        if span is not None:
            lines.append(f"{label}: {_hm(span.start)}-{_hm(span.end)}")
    if result.sunrise is None:
        lines.append(f"आज सूर्योदय नहीं: अंग {_hm(result.reference)} के अनुसार")
    lines.append(f"मास: {_hindi_month(result)}")
    lines.append(_hindi_year(result))
    text = "\n".join(lines)
    return text[:MAX_MESSAGE_CHARS]


def single_line(text: str) -> str:
    """`text` with every run of whitespace (newlines, tabs, many spaces) as one space.

    WhatsApp refuses a template parameter with a newline, a tab or more than four spaces in a
    row (error 132018), and a place name typed by a person may hold any of them.
    """
    return " ".join(text.split())


def template_parameters(
    result: Panchangam, place_name: str, language: str = "en"
) -> dict[str, str]:
    """The named parameters of the daily message template, each a single line.

    Keys are the template's parameter names (`whatsapp/templates/daily_panchangam.json`), the
    same in every language; `language` ('en' or 'hi') is the language of their text and of the
    template they fill.
    """
    _check(language)
    if language == "hi":
        params = _template_parameters_hi(result, place_name)
        return {name: single_line(value) for name, value in params.items()}
    day = result.reference
    month = result.lunar_month
    adhika = "Adhika " if month.adhika else ""
    t = result.tithi
    n = result.nakshatra
    if result.sunrise is None:
        sunrise = f"none today (elements as at {_hm(result.reference)})"
    else:
        sunrise = _hm(result.sunrise)

    def span(value: TimeSpan | None) -> str:
        return (
            "none today (no sunrise)" if value is None else f"{_hm(value.start)}-{_hm(value.end)}"
        )

    params = {
        "place": place_name,
        "date": f"{result.date:%a %d %b %Y}",
        "vaara": f"{result.vaara.name} ({result.vaara.english})",
        "tithi": f"{t.paksha} {_chain(t, t.name, day)}",
        "nakshatra": _chain(n, f"{n.name} (pada {n.pada})", day),
        "yoga": _chain(result.yoga, result.yoga.name, day),
        "karana": _chain(result.karana, result.karana.name, day),
        "sunrise": sunrise,
        "sunset": "none today" if result.sunset is None else _hm(result.sunset),
        "rahu_kalam": span(result.rahu_kalam),
        "yamaganda": span(result.yamaganda),
        "gulika_kalam": span(result.gulika_kalam),
        "month": f"{adhika}{month.amanta} (amanta), {adhika}{month.purnimanta} (purnimanta)",
        "year": f"Shaka {result.shaka_year} {result.samvatsara}",
    }
    return {name: single_line(value) for name, value in params.items()}


def _template_parameters_hi(result: Panchangam, place_name: str) -> dict[str, str]:
    hi = "hi"
    day = result.reference
    t = result.tithi
    n = result.nakshatra
    if result.sunrise is None:
        sunrise = f"आज नहीं (अंग {_hm(result.reference)} के अनुसार)"
    else:
        sunrise = _hm(result.sunrise)

    def span(value: TimeSpan | None) -> str:
        return "आज नहीं (सूर्योदय नहीं)" if value is None else f"{_hm(value.start)}-{_hm(value.end)}"

    return {
        "place": place_name,
        "date": _hindi_date(result),
        "vaara": names_hi.VAARA[result.vaara.name],
        "tithi": f"{names_hi.PAKSHA[t.paksha]} {_chain(t, _name(t, hi), day, hi)}",
        "nakshatra": _chain(n, f"{_name(n, hi)} (पद {n.pada})", day, hi),
        "yoga": _chain(result.yoga, _name(result.yoga, hi), day, hi),
        "karana": _chain(result.karana, _name(result.karana, hi), day, hi),
        "sunrise": sunrise,
        "sunset": "आज नहीं" if result.sunset is None else _hm(result.sunset),
        "rahu_kalam": span(result.rahu_kalam),
        "yamaganda": span(result.yamaganda),
        "gulika_kalam": span(result.gulika_kalam),
        "month": _hindi_month(result),
        "year": _hindi_year(result),
    }


def one_line(result: Panchangam, place_name: str | None = None) -> str:
    """A short single-line form (no newlines or tabs, fit for a template parameter)."""
    where = f"{place_name}: " if place_name else ""
    return (
        f"{where}{result.date.isoformat()} {result.vaara.english}, "
        f"{result.tithi.paksha} {result.tithi.name}, {result.nakshatra.name}, "
        f"sunrise {_hm(result.sunrise)}"
    )
