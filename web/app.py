"""The ASGI app of `panchang web`."""

from __future__ import annotations

import redis
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette

from core.settings import Settings
from transport.replies import Replier, configured_replier
from web import metrics, probes, status, webhooks


def create_app(
    settings: Settings,
    sessions: sessionmaker[Session],
    redis_client: redis.Redis | None = None,
    replier: Replier | None = None,
) -> Starlette:
    """The web app for `settings`: the WhatsApp webhook, `/healthz`, `/readyz`, `/metrics`
    and the status page `/`. ConfigError when the webhook's secrets are not set.

    `redis_client` lets subscribers' own changes be scheduled at once (without it they wait
    for the periodic sync); `replier` answers them (default: the configured transport's).
    """
    if replier is None:
        replier = configured_replier(settings, redis_client)
    return Starlette(
        routes=[
            *probes.routes(settings),
            *metrics.routes(settings, redis_client),
            *status.routes(settings, sessions),
            *webhooks.routes(settings, sessions, redis_client, replier),
        ]
    )
