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
    content beside the plain `text`, and `params` the template's parameters; `language` ('en'
    or 'hi') is the language `text` and `params` are written in, and so the template's.
    """

    to: str
    timezone: str
    local_date: date
    send_time: str
    text: str
    fields: dict[str, Any] = field(default_factory=dict)
    # The message template's named parameters, each a single line (WhatsApp sends these).
    params: dict[str, str] = field(default_factory=dict)
    language: str = "en"


@dataclass(frozen=True)
class Receipt:
    """What a transport did with a message: `status` is the ledger status to record (`sent` for
    the outbox, which is done; `accepted` for WhatsApp, which delivers later and reports by
    webhook) and `message_id` the provider's id for it, if any."""

    status: str
    message_id: str | None = None


@runtime_checkable
class Transport(Protocol):
    """Hands messages over, one request per `send`.

    `send` returns a Receipt once the message is taken, or raises
    `core.errors.TransportError`, whose `kind` tells the run what to do (retry, stop sending to
    this user, halt). A transport that checks anything remote before sending checks
    `halt_key` (a Redis key set when the run was halted on any worker) in the same step.
    `concurrency` is how many sends one process may have in flight at once.
    """

    concurrency: int

    def send(self, message: Message, halt_key: str | None = None) -> Receipt: ...
