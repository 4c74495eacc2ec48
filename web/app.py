"""The ASGI app of `panchang web`."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette

from core.settings import Settings
from web import webhooks


def create_app(settings: Settings, sessions: sessionmaker[Session]) -> Starlette:
    """The web app for `settings`; ConfigError when the webhook's secrets are not set."""
    return Starlette(routes=webhooks.routes(settings.whatsapp, sessions))
