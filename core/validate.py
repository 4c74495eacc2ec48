"""Parse and check user input at the edges. Each function returns the clean value or raises
ValidationError naming the field and the value, so nothing invalid reaches the database."""

from __future__ import annotations

import difflib
import re
import zoneinfo
from dataclasses import dataclass
from datetime import date, time
from functools import cache, lru_cache
from importlib import resources
from typing import TYPE_CHECKING

from core.errors import ValidationError

if TYPE_CHECKING:
    import phonenumbers

_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")


@lru_cache(maxsize=1)
def known_zones() -> frozenset[str]:
    """The IANA keys this machine's tz database knows (tzdata is a dependency, so never empty)."""
    return frozenset(zoneinfo.available_timezones())


def is_valid_zone(value: str) -> bool:
    """True when `value` is an IANA zone key that ZoneInfo can load."""
    return value in known_zones()


def zone(value: str, field: str = "timezone") -> str:
    """Return `value` when it is a known IANA zone key such as 'Asia/Kolkata'."""
    cleaned = (value or "").strip()
    if not is_valid_zone(cleaned):
        raise ValidationError(field, value, "not an IANA time zone (for example 'Asia/Kolkata')")
    return cleaned


# Zones that are not where anyone lives. The System V / POSIX-style names (tz's 'backward'
# file keeps them for old software; since tz 2024b most are links to one city's zone, so a
# link target alone would turn 'EST' into 'America/Panama', which is not what a user in New
# York means by it) are refused rather than guessed at.
_LEGACY_ZONES = frozenset(
    {"CET", "CST6CDT", "EET", "EST", "EST5EDT", "HST", "MET", "MST", "MST7MDT", "PST8PDT", "WET"}
)
_NOT_PLACES = frozenset({"Factory", "localtime", "posixrules"})
_ZONE_EXAMPLE = "for example 'Asia/Kolkata' or 'America/New_York'"


@dataclass(frozen=True)
class _ZoneTables:
    canonical: dict[str, str]  # every accepted name -> its canonical zone
    refused: dict[str, str]  # every known name refused -> why
    by_lower: dict[str, str]  # casefolded accepted name -> its canonical zone
    refused_lower: dict[str, str]  # casefolded refused name -> its exact spelling


def _tzdata_text(name: str) -> str:
    return resources.files("tzdata").joinpath("zoneinfo", name).read_text(encoding="utf-8")


@cache
def _zone_tables() -> _ZoneTables:
    """Read the zone names from the `tzdata` package (so the answer is the same on every OS).

    zone.tab lists, per country, the zones its people use; tzdata.zi declares every zone
    ('Z name ...') and every link ('L target name').
    """
    listed = {
        line.split("\t")[2]
        for line in _tzdata_text("zone.tab").splitlines()
        if line.strip() and not line.startswith("#")
    }
    zones: set[str] = set()
    links: dict[str, str] = {}
    for line in _tzdata_text("tzdata.zi").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "Z":
            zones.add(parts[1])
        elif len(parts) >= 3 and parts[0] == "L":
            links[parts[2]] = parts[1]

    canonical: dict[str, str] = {}
    refused: dict[str, str] = {}
    for name in sorted(zones | set(links) | listed | _NOT_PLACES):
        target = name
        # A zone listed for its own country stays itself even when this tz build makes it a
        # link: since tz 2022b many such zones (Europe/Amsterdam -> Europe/Brussels,
        # Europe/Oslo -> Europe/Berlin) are links because their clocks have agreed since
        # 1970, which is a fact about the data, not about where the user lives. A Dutch user
        # keeps 'Europe/Amsterdam', and a future divergence of the two countries' rules
        # would not move them. Any other link ('Asia/Calcutta', 'US/Eastern') is an old or
        # alias name for its target, which has the same offsets at every instant.
        if name not in listed:
            seen = {name}
            while target in links and target not in listed:
                target = links[target]
                if target in seen:  # a link cycle would be a broken tz build; refuse it
                    break
                seen.add(target)
        if name in _NOT_PLACES:
            refused[name] = "not a place's time zone (the server's or a placeholder)"
        elif name in _LEGACY_ZONES:
            refused[name] = "an old POSIX-style zone, not a place's time zone"
        elif name.startswith("Etc/") or target.startswith("Etc/"):
            refused[name] = "a fixed offset from UTC, not a place's time zone"
        elif target in listed:
            canonical[name] = target
        else:
            refused[name] = "not a place's time zone"
    by_lower = {name.casefold(): zone for name, zone in canonical.items()}
    refused_lower = {name.casefold(): name for name in refused}
    return _ZoneTables(canonical, refused, by_lower, refused_lower)


def canonical_zone(name: str) -> str | None:
    """The canonical zone of an IANA name a subscriber may have, or None when refused/unknown.

    Canonical zones are those tzdata's zone.tab lists for a country. A listed zone is its own
    canonical zone even when tzdata.zi makes it a link (so 'Europe/Amsterdam' stays); any
    other link name is its link target ('Asia/Calcutta' -> 'Asia/Kolkata', 'US/Eastern' ->
    'America/New_York'). Refused: 'localtime', 'Factory', the legacy POSIX-style zones
    ('EST', 'EST5EDT', 'CET', 'WET', ...), every 'Etc/' zone and every name linked to one
    ('UTC', 'GMT', 'Zulu', 'Universal'). The lookup is exact (case-sensitive, no trimming).
    """
    return _zone_tables().canonical.get(name)


def user_zone(value: str, field: str = "timezone") -> str:
    """Return the canonical zone (see `canonical_zone`) of a zone name a subscriber gives.

    One place has one name, so subscribers of 'Asia/Calcutta' and 'Asia/Kolkata' share a
    slot. Names that are not a place's zone are refused with the reason; a wrong-case or
    misspelt name is refused with a suggestion ("did you mean 'Asia/Kolkata'?").
    """
    cleaned = value.strip() if isinstance(value, str) else ""
    tables = _zone_tables()
    found = tables.canonical.get(cleaned)
    if found is not None:
        return found
    why = tables.refused.get(tables.refused_lower.get(cleaned.casefold(), cleaned))
    if why is not None:
        raise ValidationError(field, value, f"{why}; give the zone of a place, {_ZONE_EXAMPLE}")
    suggestion = _zone_suggestion(cleaned, tables)
    if suggestion is not None:
        raise ValidationError(field, value, f"not an IANA time zone; did you mean {suggestion!r}?")
    raise ValidationError(field, value, f"not an IANA time zone of a place ({_ZONE_EXAMPLE})")


def _zone_suggestion(text: str, tables: _ZoneTables) -> str | None:
    key = text.casefold().replace(" ", "_")
    if not key:
        return None
    if key in tables.by_lower:
        return tables.by_lower[key]
    close = difflib.get_close_matches(key, tables.by_lower, n=1, cutoff=0.8)
    return tables.by_lower[close[0]] if close else None


def phone(value: str, field: str = "phone", region: str | None = None) -> str:
    """Return the E.164 form ('+919876543210') of a phone number as people type it.

    Spaces, dashes, dots and brackets are fine ('+91 98765 43210', '(+91) 98765-43210').
    A number without its country code ('098765 43210', '0091 98765 43210') needs `region`,
    the ISO 3166 code of the country it is written for ('IN'). The number must be one that
    `phonenumbers.is_valid_number` accepts for its country, so unassigned ranges, too short
    or too long numbers and extensions are refused.
    """
    parsed_region = _phone_region(region)
    return _e164(value, value, field, parsed_region)


def whatsapp_phone(digits: str, field: str = "from") -> str:
    """Return the E.164 form of a WhatsApp sender id: the number's digits without '+'."""
    cleaned = (digits or "").strip() if isinstance(digits, str) else ""
    if not re.fullmatch(r"[0-9]{1,17}", cleaned):
        raise ValidationError(field, digits, "not a WhatsApp id (the digits of a number, no '+')")
    return _e164("+" + cleaned, digits, field, None)


def _phone_region(region: str | None) -> str | None:
    import phonenumbers  # imported on first use: it adds ~45 ms to every process start

    if region is None:
        return None
    code = region.strip().upper() if isinstance(region, str) else ""
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(
            "region", region, "not a country code phone numbers are known for (for example IN)"
        )
    return code


def _e164(text: object, value: object, field: str, region: str | None) -> str:
    """Parse `text` (reporting errors about `value`) and return its E.164 form."""
    import phonenumbers

    if not isinstance(text, str) or not text.strip():
        raise ValidationError(field, value, "not a phone number (for example +919876543210)")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as error:
        raise ValidationError(field, value, _parse_failure(error, text, region)) from None
    if number.extension:
        raise ValidationError(field, value, "has an extension; give the number alone")
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(field, value, _invalid_reason(number))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _parse_failure(error: phonenumbers.NumberParseException, text: str, region: str | None) -> str:
    import phonenumbers

    kind = error.error_type
    if kind == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
        if region is None and "+" not in text:
            return (
                "no country code: write it with +<country code> (for example +919876543210)"
                " or give the region it is written for (for example IN)"
            )
        return "no such country code (for example +91 for India, +44 for the UK)"
    if kind == phonenumbers.NumberParseException.NOT_A_NUMBER:
        return "not a phone number (for example +919876543210)"
    if kind == phonenumbers.NumberParseException.TOO_LONG:
        return "too long for a phone number"
    return "too short for a phone number"


def _invalid_reason(number: phonenumbers.PhoneNumber) -> str:
    import phonenumbers

    code = number.country_code or 0
    country = phonenumbers.region_code_for_country_code(code)
    where = f"{country} (+{code})" if country not in ("ZZ", "001") else f"+{code}"
    reason = f"not a valid number for {where}"
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible == phonenumbers.ValidationResult.TOO_SHORT:
        return reason + ": too short"
    if possible == phonenumbers.ValidationResult.TOO_LONG:
        return reason + ": too long"
    return reason


def send_time(value: str, field: str = "send_time") -> str:
    """Return a local wall time normalised to 'HH:MM' (24-hour)."""
    match = _HHMM.match((value or "").strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValidationError(field, value, "not a 24-hour time HH:MM (for example 06:30)")
    return f"{int(match[1]):02d}:{match[2]}"


def local_date(value: str, field: str = "local_date") -> date:
    """Return the calendar date of an ISO 'YYYY-MM-DD' string."""
    try:
        return date.fromisoformat((value or "").strip())
    except (TypeError, ValueError):
        raise ValidationError(
            field, value, "not a date YYYY-MM-DD (for example 2026-01-14)"
        ) from None


def send_time_of(value: str) -> time:
    """The `datetime.time` of an already validated 'HH:MM'."""
    hour, minute = value.split(":")
    return time(int(hour), int(minute))


def _number(value: object, field: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValidationError(field, value, "not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValidationError(field, value, "not a finite number")
    return number


def latitude(value: object, field: str = "latitude") -> float:
    """Return a latitude in degrees, -90..90 (north positive)."""
    number = _number(value, field)
    if not -90.0 <= number <= 90.0:
        raise ValidationError(field, value, "latitude must be between -90 and 90 degrees")
    return number


def longitude(value: object, field: str = "longitude") -> float:
    """Return a longitude in degrees, -180..180 (east positive)."""
    number = _number(value, field)
    if not -180.0 <= number <= 180.0:
        raise ValidationError(field, value, "longitude must be between -180 and 180 degrees")
    return number
