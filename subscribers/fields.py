"""The validated fields of a new subscriber, shared by a single add and the CSV import."""

from __future__ import annotations

from dataclasses import dataclass

from core import validate
from core.errors import ValidationError
from scheduler.slots import Slot

# Matches the length of `city_detail.name`; longer names would fail only at insert time.
CITY_NAME_MAX = 120


@dataclass(frozen=True)
class NewUser:
    """A subscriber's fields after validation: E.164 phone, IANA zone, degrees, 'HH:MM'."""

    phone: str
    timezone: str
    latitude: float
    longitude: float
    city: str | None
    send_time: str

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


def new_user(
    *,
    phone: str,
    timezone: str,
    latitude: object,
    longitude: object,
    city: str | None,
    send_time: str | None,
    default_send_time: str,
) -> NewUser:
    """Validate every field in CSV column order; the first bad one raises ValidationError.

    A missing or blank `send_time` means `default_send_time`.
    """
    return NewUser(
        phone=validate.phone(phone),
        timezone=validate.zone(timezone),
        latitude=validate.latitude(latitude),
        longitude=validate.longitude(longitude),
        city=city_name(city),
        send_time=validate.send_time(send_time) if send_time else default_send_time,
    )
