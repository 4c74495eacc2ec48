"""What a transport receives and the one method it offers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Message:
    """One subscriber's message for one local day.

    `to` is E.164 ('+919876543210'); `timezone` and `send_time` ('HH:MM') name the slot;
    `local_date` is the day in that zone the message is for; `fields` carries structured
    content (for WhatsApp template parameters) beside the plain `text`.
    """

    to: str
    timezone: str
    local_date: date
    send_time: str
    text: str
    fields: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Transport(Protocol):
    """Hands messages over. `send` returns once the message is accepted, or raises
    `core.errors.TransportError` for this message alone (the run goes on with the others)."""

    def send(self, message: Message) -> None: ...
