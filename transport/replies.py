"""Short free-form answers to people who wrote to us: the same transport as the daily message.

WhatsApp lets a business send free text (`type: "text"`) only within 24 hours of the person's
own message, which is exactly when we answer. Through the Cloud API, under the number's shared
rate limit; with the outbox transport, as JSON lines in a file beside the outbox.
"""

from __future__ import annotations

import json
import logging
import random
import time
from pathlib import Path
from typing import Protocol

import redis

from core import clock
from core.errors import FailureKind, TransportError
from core.names import rate_limit_key
from core.settings import Settings
from whatsapp.errors import THROUGHPUT

log = logging.getLogger(__name__)

# A reply is a courtesy around a change already saved: a few quick tries, then a log line.
REPLY_ATTEMPTS = 3


class Replier(Protocol):
    def reply(self, to: str, text: str) -> None:
        """Answer E.164 `to` with `text`; TransportError when it could not be sent."""


class OutboxReplier:
    """Appends `{"to", "text", "sent_at", "kind": "reply"}` lines to `path`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def reply(self, to: str, text: str) -> None:
        record = {"to": to, "text": text, "sent_at": clock.now().isoformat(), "kind": "reply"}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        except OSError as err:
            raise TransportError(f"replies file {self.path}: {err}") from err


class WhatsAppReplier:
    """Sends text messages through the Cloud API, waiting its turn in the number's rate limit."""

    def __init__(self, settings: Settings, redis_client: redis.Redis) -> None:
        from whatsapp.client import CloudApi
        from whatsapp.rate_limit import RateLimiter

        wa = settings.whatsapp
        self.api = CloudApi(wa, max_connections=4)
        self.limiter = RateLimiter(redis_client, rate_limit_key(wa.phone_number_id), wa.rate_per_s)

    def reply(self, to: str, text: str) -> None:
        payload = {"type": "text", "text": {"body": text, "preview_url": False}}
        for attempt in range(1, REPLY_ATTEMPTS + 1):
            self.limiter.wait(None)
            try:
                self.api.send(to, payload)
                return
            except TransportError as err:
                if err.code == THROUGHPUT:  # over the number's rate: every sender slows down
                    self.limiter.slow_down()
                if err.kind is not FailureKind.TRANSIENT or attempt == REPLY_ATTEMPTS:
                    raise
                time.sleep(random.uniform(0, 0.5 * 2**attempt))  # full jitter


def configured_replier(settings: Settings, redis_client: redis.Redis | None) -> Replier:
    """The replier of `PANCHANG_TRANSPORT`: WhatsApp (needs Redis for the rate limit) or a
    `.replies.jsonl` file beside the outbox."""
    if settings.transport == "outbox":
        return OutboxReplier(settings.outbox_path.with_suffix(".replies.jsonl"))
    if redis_client is None:
        raise ValueError("the WhatsApp transport needs Redis for its shared rate limit")
    return WhatsAppReplier(settings, redis_client)


def send_replies(replier: Replier, replies: list[tuple[str, str]]) -> None:
    """Send each (to, text); a failure is logged and the others still go."""
    for to, text in replies:
        try:
            replier.reply(to, text)
        except TransportError as err:
            log.error("reply to %s****%s not sent: %s", to[:-6], to[-2:], err)
