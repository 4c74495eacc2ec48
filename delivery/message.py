"""Compose one subscriber's message for one local day.

`Composer` is the seam: `run_slot` takes any callable of this shape, and `compose_message` is
the default: the day's panchangam for the user's place.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from models import User
from panchangam import cached_compute, summary_text, template_parameters, to_json_dict
from transport.base import Message

Composer = Callable[[User, date], Message]
"""Builds the message for (user, local date in the user's zone); pure, may not do I/O."""


def place_of(user: User) -> str:
    """The place the message names: the user's city, else their coordinates in degrees."""
    if user.city is not None:
        return user.city.name
    return f"{user.latitude:.4f},{user.longitude:.4f}"


def compose_message(user: User, local_date: date) -> Message:
    """The day's panchangam for the user's own coordinates and local date.

    `text` is the readable summary (the outbox line); `fields` carries the structured values;
    `params` fills the WhatsApp template.
    """
    day = cached_compute(local_date, user.latitude, user.longitude, user.timezone)
    city = user.city.name if user.city is not None else None
    fields: dict[str, Any] = {"place": place_of(user), **to_json_dict(day)}
    return Message(
        to=user.phone,
        timezone=user.timezone,
        local_date=local_date,
        send_time=user.send_time,
        text=summary_text(day, city),
        fields=fields,
        params=template_parameters(day, place_of(user)),
    )
