"""The validated fields of a subscriber, shared by the CLI, the CSV import and WhatsApp."""

from __future__ import annotations

from dataclasses import dataclass

from core import validate
from core.errors import ValidationError
from models.user import DEFAULT_LANGUAGE, LANGUAGES
from scheduler.slots import Slot

# Matches the length of `city_detail.name`; longer names would fail only at insert time.
CITY_NAME_MAX = 120

# What people type for a language, besides its code.
_LANGUAGE_NAMES = {
    "en": "en", "english": "en", "अंग्रेज़ी": "en", "अंग्रेजी": "en", "इंग्लिश": "en",
    "hi": "hi", "hindi": "hi", "हिंदी": "hi", "हिन्दी": "hi",
}  # fmt: skip


@dataclass(frozen=True)
class NewUser:
    """A subscriber's fields after validation: E.164 phone, canonical IANA zone, degrees,
    'HH:MM', language code. `warnings` are things worth telling the operator that did not
    stop the user being saved (a zone that disagrees with the coordinates)."""

    phone: str
    timezone: str
    latitude: float
    longitude: float
    city: str | None
    send_time: str
    language: str = DEFAULT_LANGUAGE
    warnings: tuple[str, ...] = ()

    @property
    def slot(self) -> Slot:
        return Slot(self.timezone, self.send_time)


def city_name(value: str | None, field: str = "city") -> str | None:
    """A city name with surrounding blanks removed; None when absent or blank."""
    if value is None:
        return None
    cleaned = value.strip()
    if not cleaned:
        return None
    if len(cleaned) > CITY_NAME_MAX:
        raise ValidationError(field, value, f"longer than {CITY_NAME_MAX} characters")
    return cleaned


def language(value: str, field: str = "language") -> str:
    """A language code of LANGUAGES from its code or name ('hi', 'Hindi', 'हिंदी')."""
    code = _LANGUAGE_NAMES.get((value or "").strip().casefold())
    if code is None:
        raise ValidationError(field, value, f"not a language we send in ({', '.join(LANGUAGES)})")
    return code


def zone_for(given: str | None, latitude: float, longitude: float) -> tuple[str, tuple[str, ...]]:
    """The zone to store for a user at (`latitude`, `longitude`) and any warning about it.

    No zone given: the zone at the coordinates (ValidationError at sea, where no place's zone
    applies). A zone given: canonicalised and stored as given, with a warning when the
    coordinates lie in another zone (a border town may be meant to keep its neighbour's clock).
    """
    if given is None or not given.strip():
        from places.locate import zone_at

        found = zone_at(latitude, longitude)
        if found is None:
            raise ValidationError(
                "timezone",
                given or "",
                f"none given, and latitude {latitude}, longitude {longitude} is in no place's "
                "zone (open sea?): give one",
            )
        return found, ()
    zone = validate.user_zone(given)
    return zone, zone_warnings(zone, latitude, longitude)


def zone_warnings(zone: str, latitude: float, longitude: float) -> tuple[str, ...]:
    """A warning when the coordinates lie in another zone than `zone`, which may be a zone
    stored before zones were checked (compared by its canonical name when it has one)."""
    from places.locate import zone_at

    found = zone_at(latitude, longitude)
    if found is None or found == (validate.canonical_zone(zone) or zone):
        return ()
    return (
        f"timezone {zone} is not the zone at latitude {latitude}, longitude {longitude} "
        f"({found}); stored {zone} as given",
    )


def new_user(
    *,
    phone: str,
    timezone: str | None,
    latitude: object,
    longitude: object,
    city: str | None,
    send_time: str | None,
    default_send_time: str,
    language_code: str | None = None,
    region: str | None = None,
) -> NewUser:
    """Validate every field; the first bad one raises ValidationError.

    `region` (ISO country code) reads phone numbers written without a country code. A missing
    zone is taken from the coordinates, a missing `send_time` is `default_send_time`, a missing
    language is English.
    """
    checked_phone = validate.phone(phone, region=region)
    lat = validate.latitude(latitude)
    lon = validate.longitude(longitude)
    zone, warnings = zone_for(timezone, lat, lon)
    return NewUser(
        phone=checked_phone,
        timezone=zone,
        latitude=lat,
        longitude=lon,
        city=city_name(city),
        send_time=validate.send_time(send_time) if send_time else default_send_time,
        language=language(language_code) if language_code else DEFAULT_LANGUAGE,
        warnings=warnings,
    )
