"""The transport that sends the day's message as a WhatsApp template, one request per send.

Retries, halts and what each failure means for the ledger belong to the run
(`delivery.sender`); this sends once, under the shared rate limit, and reports.
"""

from __future__ import annotations

from core.errors import FailureKind, TransportError
from transport.base import Message, Receipt
from whatsapp.client import CloudApi
from whatsapp.errors import THROUGHPUT
from whatsapp.rate_limit import RateLimiter
from whatsapp.template import Template, load_all, meta_codes


class WhatsAppTransport:
    """Sends the template in the message's language, its parameters taken from
    `Message.params`.

    `template` is the English one, registered at Meta as `template_name` in `language`
    (WHATSAPP_TEMPLATE_LANGUAGE); the other languages shipped with it (Hindi) are sent under
    the same name with their own code (`hi`).
    """

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
        shipped = {**load_all(template.name), template.language: template}
        codes = meta_codes(shipped, language)
        # Message.language -> (template, the code it is registered under at Meta)
        self.templates = {lang: (shipped[lang], codes[lang]) for lang in shipped}

    def send(self, message: Message, halt_key: str | None = None) -> Receipt:
        """One request; TransportError (with its kind and code) when WhatsApp refuses, or
        (kind HALTED) without a request when `halt_key` says the run was halted."""
        found = self.templates.get(message.language)
        if found is None:
            raise TransportError(
                f"no {self.template_name} template in language {message.language!r} "
                f"(shipped: {', '.join(self.templates)})",
                kind=FailureKind.FINAL,
            )
        template, code = found
        payload = {
            "type": "template",
            "template": {
                "name": self.template_name,
                "language": {"code": code},
                "components": [template.body_component(message.params)],
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
