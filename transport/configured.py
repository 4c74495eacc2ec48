"""The transport the settings choose: the outbox file, or the WhatsApp Cloud API."""

from __future__ import annotations

import redis

from core.names import rate_limit_key
from core.settings import Settings
from transport.base import Transport
from transport.outbox import OutboxTransport


def configured_transport(settings: Settings, redis_client: redis.Redis | None) -> Transport:
    """`PANCHANG_TRANSPORT`'s transport. WhatsApp needs Redis for the number's rate limit,
    which every process and machine shares."""
    if settings.transport == "outbox":
        return OutboxTransport(settings.outbox_path)
    from whatsapp.client import CloudApi
    from whatsapp.rate_limit import RateLimiter
    from whatsapp.template import load
    from whatsapp.transport import WhatsAppTransport

    if redis_client is None:
        raise ValueError("the WhatsApp transport needs Redis for its shared rate limit")
    wa = settings.whatsapp
    return WhatsAppTransport(
        CloudApi(wa, max_connections=settings.send_concurrency),
        RateLimiter(redis_client, rate_limit_key(wa.phone_number_id), wa.rate_per_s),
        load(),
        wa.template,
        wa.template_language,
        settings.send_concurrency,
    )
