"""The WhatsApp webhook: Meta's subscription handshake, and signed status updates.

- `GET /webhooks/whatsapp`: echo `hub.challenge` (200) when `hub.mode=subscribe` and
  `hub.verify_token` is ours; 403 otherwise.
- `POST /webhooks/whatsapp`: a missing or wrong `X-Hub-Signature-256` gets 403 and changes
  nothing; a body that is not JSON gets 400; statuses move ledger rows forward by message id
  (never back, so out-of-order and replayed events are harmless); a `failed` status with
  131026 or 131050 makes the user unreachable. Unknown message ids are answered 200 and
  ignored. A database that fails gets 500, and Meta delivers the event again later.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Iterable

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from core import clock
from core.settings import WhatsAppSettings
from delivery import ledger
from models import DeliveryStatus
from models.db import session_scope
from subscribers.registry import mark_unreachable
from whatsapp.errors import UNREACHABLE
from whatsapp.webhook import StatusEvent, signature_ok, status_events

log = logging.getLogger(__name__)
PATH = "/webhooks/whatsapp"


def routes(settings: WhatsAppSettings, sessions: sessionmaker[Session]) -> list[Route]:
    """The webhook's routes; `settings` must hold the app secret and the verify token."""
    settings.require("app_secret", "verify_token")

    async def handshake(request: Request) -> Response:
        query = request.query_params
        token = query.get("hub.verify_token", "")
        if query.get("hub.mode") == "subscribe" and hmac.compare_digest(
            token.encode(), settings.verify_token.encode()
        ):
            return PlainTextResponse(query.get("hub.challenge", ""))
        return PlainTextResponse("forbidden", status_code=403)

    async def receive(request: Request) -> Response:
        raw = await request.body()
        if not signature_ok(raw, request.headers.get("x-hub-signature-256"), settings.app_secret):
            log.warning("webhook: refused a POST with a missing or wrong signature")
            return PlainTextResponse("bad signature", status_code=403)
        try:
            payload = json.loads(raw)
        except ValueError:
            return PlainTextResponse("not JSON", status_code=400)
        events = list(status_events(payload))
        if events:
            await run_in_threadpool(apply_events, sessions, events)
        return PlainTextResponse("ok")

    return [
        Route(PATH, handshake, methods=["GET"]),
        Route(PATH, receive, methods=["POST"]),
    ]


def apply_events(sessions: sessionmaker[Session], events: Iterable[StatusEvent]) -> int:
    """Apply statuses to the ledger in one transaction; returns how many rows moved."""
    moved = 0
    now = clock.now()
    with session_scope(sessions) as session:
        for event in events:
            row = ledger.apply_status(
                session, event.message_id, event.status, now, event.code, event.error
            )
            if row is None:
                continue  # an id we never sent, or no step forward: a replay or a late event
            moved += 1
            if event.status is DeliveryStatus.FAILED and event.code in UNREACHABLE:
                mark_unreachable(session, row[1], event.code, now)
    return moved
