"""The transport that sends the day's message as a WhatsApp template, one request per send.

Retries, halts and what each failure means for the ledger belong to the run
(`delivery.sender`); this sends once, under the shared rate limit, and reports.
"""

from __future__ import annotations

from core.errors import TransportError
from transport.base import Message, Receipt
from whatsapp.client import CloudApi
from whatsapp.errors import THROUGHPUT
from whatsapp.rate_limit import RateLimiter
from whatsapp.template import Template


class WhatsAppTransport:
    """Sends `template` in `language`, its parameters taken from `Message.params`."""

    def __init__(
        self,
        api: CloudApi,
        limiter: RateLimiter,
        template: Template,
        template_name: str,
        language: str,
        concurrency: int,
    ) -> None:
        self.api = api
        self.limiter = limiter
        self.template = template
        self.template_name = template_name
        self.language = language
        self.concurrency = concurrency

    def send(self, message: Message, halt_key: str | None = None) -> Receipt:
        """One request; TransportError (with its kind and code) when WhatsApp refuses, or
        (kind HALTED) without a request when `halt_key` says the run was halted."""
        payload = {
            "type": "template",
            "template": {
                "name": self.template_name,
                "language": {"code": self.language},
                "components": [self.template.body_component(message.params)],
            },
        }
        self.limiter.wait(halt_key)
        try:
            message_id = self.api.send(message.to, payload)
        except TransportError as err:
            if err.code == THROUGHPUT:
                self.limiter.slow_down()
            raise
        return Receipt("accepted", message_id)

    def __repr__(self) -> str:
        return f"WhatsAppTransport({self.api.settings.api_url!r}, {self.template_name!r})"
