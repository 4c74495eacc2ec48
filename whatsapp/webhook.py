"""What WhatsApp posts to our webhook, read and checked (pure: bytes and dicts in, values out).

Meta signs each POST with `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body, keyed
with the app secret>`; anything else is refused. Statuses (`sent`, `delivered`, `read`,
`failed`) arrive as `entry[].changes[].value.statuses[]`, at least once and in any order;
messages people send us as `entry[].changes[].value.messages[]`, also at least once.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from models import DeliveryStatus

STATUSES = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "failed": DeliveryStatus.FAILED,
}


def signature_ok(raw_body: bytes, header: str | None, app_secret: str) -> bool:
    """True when `header` is `sha256=` and the HMAC of `raw_body` with `app_secret`, compared
    in constant time so the check leaks nothing about the expected value."""
    if not header or not header.startswith("sha256=") or not app_secret:
        return False
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header.removeprefix("sha256="), expected)


def sign(raw_body: bytes, app_secret: str) -> str:
    """The header value Meta would send for `raw_body` (tests and local tools)."""
    return "sha256=" + hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class StatusEvent:
    """One status of one message we sent."""

    message_id: str
    status: DeliveryStatus
    recipient_id: str | None
    code: int | None = None  # set for `failed`
    error: str | None = None


def status_events(payload: Any) -> Iterator[StatusEvent]:
    """The statuses in a webhook payload we understand; anything else is passed over."""
    for value in _values(payload):
        for item in value.get("statuses") or []:
            if not isinstance(item, dict):
                continue
            status = STATUSES.get(str(item.get("status")))
            message_id = item.get("id")
            if status is None or not isinstance(message_id, str):
                continue
            code, error = None, None
            errors = item.get("errors")
            if status is DeliveryStatus.FAILED and isinstance(errors, list) and errors:
                first = errors[0] if isinstance(errors[0], dict) else {}
                code = first.get("code") if isinstance(first.get("code"), int) else None
                details = (
                    (first.get("error_data") or {}).get("details")
                    if isinstance(first.get("error_data"), dict)
                    else None
                )
                error = (
                    " - ".join(
                        str(part)
                        for part in (first.get("title"), first.get("message"), details)
                        if part
                    )
                    or None
                )
            yield StatusEvent(message_id, status, item.get("recipient_id"), code, error)


def _values(payload: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(payload, dict):
        return
    for entry in payload.get("entry") or []:
        if not isinstance(entry, dict):
            continue
        for change in entry.get("changes") or []:
            value = change.get("value") if isinstance(change, dict) else None
            if isinstance(value, dict):
                yield value


@dataclass(frozen=True)
class InboundMessage:
    """One message a person sent to our number: its id, the sender as digits without `+`,
    its type, and its body: `text` for a text (or a button's text), the position and the
    place's own name and address for a shared location."""

    message_id: str
    sender: str
    type: str
    text: str | None = None
    latitude: object = None
    longitude: object = None
    name: str | None = None
    address: str | None = None


def inbound_messages(payload: Any) -> Iterator[InboundMessage]:
    """The messages in a webhook payload (`entry[].changes[].value.messages[]`); items without
    an id or a sender are passed over. Values are not checked here: the caller validates the
    sender and the coordinates and refuses what is wrong."""
    for value in _values(payload):
        for item in value.get("messages") or []:
            if not isinstance(item, dict):
                continue
            message_id, sender = item.get("id"), item.get("from")
            if not isinstance(message_id, str) or not isinstance(sender, str):
                continue
            kind = str(item.get("type") or "")
            found = item.get(kind)
            body: dict[str, Any] = found if isinstance(found, dict) else {}
            if kind == "location":
                yield InboundMessage(
                    message_id, sender, kind,
                    latitude=body.get("latitude"), longitude=body.get("longitude"),
                    name=_text(body.get("name")), address=_text(body.get("address")),
                )  # fmt: skip
            elif kind == "text":
                yield InboundMessage(message_id, sender, kind, text=_text(body.get("body")))
            elif kind == "button":  # a quick-reply button of a template, e.g. "STOP"
                yield InboundMessage(message_id, sender, kind, text=_text(body.get("text")))
            else:  # images, stickers, reactions...: answered with the help text
                yield InboundMessage(message_id, sender, kind)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
