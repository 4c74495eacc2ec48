"""The result as a JSON-ready dict and as message text (WhatsApp body, at most 1,024 chars)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from panchangam.model import Karana, Nakshatra, Panchangam, TimeSpan, Tithi, Yoga

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


def _hm(moment: datetime | None, day: datetime | None = None) -> str:
    """'07:14', or '02:03 (Jan 27)' when the time falls on another date than `day`."""
    if moment is None:
        return "none"
    # Nearest minute, as printed almanacs (drikpanchang.com among them) round.
    moment = moment + timedelta(seconds=30)
    text = moment.strftime("%H:%M")
    if day is not None and moment.date() != day.date():
        text += moment.strftime(" (%b %d)")
    return text


def _until(name: str, ends_at: datetime, day: datetime) -> str:
    return f"{name} until {_hm(ends_at, day)}"


def _chain(first: Tithi | Nakshatra | Yoga | Karana, label: str, day: datetime) -> str:
    text = _until(label, first.ends_at, day)
    if first.next is not None:
        text += f", then {_until(first.next.name, first.next.ends_at, day)}"
    return text


def summary_text(result: Panchangam, place_name: str | None = None) -> str:
    """A readable multi-line summary for a message body (always under 1,024 characters)."""
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


def single_line(text: str) -> str:
    """`text` with every run of whitespace (newlines, tabs, many spaces) as one space.

    WhatsApp refuses a template parameter with a newline, a tab or more than four spaces in a
    row (error 132018), and a place name typed by a person may hold any of them.
    """
    return " ".join(text.split())


def template_parameters(result: Panchangam, place_name: str) -> dict[str, str]:
    """The named parameters of the daily message template, each a single line.

    Keys are the template's parameter names (`whatsapp/templates/daily_panchangam.json`).
    """
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


def one_line(result: Panchangam, place_name: str | None = None) -> str:
    """A short single-line form (no newlines or tabs, fit for a template parameter)."""
    where = f"{place_name}: " if place_name else ""
    return (
        f"{where}{result.date.isoformat()} {result.vaara.english}, "
        f"{result.tithi.paksha} {result.tithi.name}, {result.nakshatra.name}, "
        f"sunrise {_hm(result.sunrise)}"
    )
