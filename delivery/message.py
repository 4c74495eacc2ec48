"""Compose one subscriber's message for one local day.

`Composer` is the seam: `run_slot` takes any callable of this shape, and `compose_message` is
the default. The panchangam composer (panchangam.compute + summary_text) plugs in here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from models import User
from transport.base import Message

Composer = Callable[[User, date], Message]
"""Builds the message for (user, local date in the user's zone); pure, may not do I/O."""


def place_of(user: User) -> str:
    """The place the message names: the user's city, else their coordinates in degrees."""
    if user.city is not None:
        return user.city.name
    return f"{user.latitude:.4f},{user.longitude:.4f}"


def compose_message(user: User, local_date: date) -> Message:
    """A short placeholder text naming the place and date, and the same facts as `fields`."""
    place = place_of(user)
    fields: dict[str, Any] = {
        "place": place,
        "latitude": user.latitude,
        "longitude": user.longitude,
        "date": local_date.isoformat(),
    }
    return Message(
        to=user.phone,
        timezone=user.timezone,
        local_date=local_date,
        send_time=user.send_time,
        text=f"Panchangam for {place} on {local_date.isoformat()}",
        fields=fields,
    )
