"""Compose one subscriber's message for one local day.

`Composer` is the seam: `run_slot` takes any callable of this shape, and `compose_message` is
the default: the day's panchangam for the user's place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from panchangam import cached_compute, summary_text, template_parameters, to_json_dict
from transport.base import Message


@dataclass(frozen=True, slots=True)
class Recipient:
    """What a message needs of a subscriber. A batch reads 500 of them as plain columns: ORM
    objects cost more than the sends they feed."""

    id: int
    phone: str
    timezone: str
    send_time: str
    latitude: float
    longitude: float
    city: str | None
    # 'en' or 'hi' (`models.user.LANGUAGES`): the language of their message.
    language: str = "en"


Composer = Callable[[Recipient, date], Message]
"""Builds the message for (recipient, local date in their zone); pure, may not do I/O."""


def place_of(recipient: Recipient) -> str:
    """The place the message names: the user's city, else their coordinates in degrees."""
    if recipient.city is not None:
        return recipient.city
    return f"{recipient.latitude:.4f},{recipient.longitude:.4f}"


def compose_message(recipient: Recipient, local_date: date) -> Message:
    """The day's panchangam for the user's own coordinates and local date.

    `text` is the readable summary (the outbox line); `fields` carries the structured values;
    `params` fills the WhatsApp template; `text` and `params` are in the user's language.
    `fields` and `params` are shared by every user of the same place, date and language: read
    them, never change them.
    """
    text, fields, params = _content(
        local_date,
        recipient.latitude,
        recipient.longitude,
        recipient.timezone,
        place_of(recipient),
        recipient.city,
        recipient.language,
    )
    return Message(
        to=recipient.phone,
        timezone=recipient.timezone,
        local_date=local_date,
        send_time=recipient.send_time,
        text=text,
        fields=fields,
        params=params,
        language=recipient.language,
    )


# Everyone at one place reading one language gets the same text on a date: rendering it
# (0.4 ms) once per place and language instead of once per user matters at 1,000 messages/s.
# Sized like the panchangam cache.
@lru_cache(maxsize=8192)
def _content(
    local_date: date,
    latitude: float,
    longitude: float,
    zone: str,
    place: str,
    city: str | None,
    language: str = "en",
) -> tuple[str, dict[str, Any], dict[str, str]]:
    day = cached_compute(local_date, latitude, longitude, zone)
    fields: dict[str, Any] = {"place": place, **to_json_dict(day)}
    return (
        summary_text(day, city, language),
        fields,
        template_parameters(day, place, language),
    )
