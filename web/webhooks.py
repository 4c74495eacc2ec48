"""The WhatsApp webhook: Meta's subscription handshake, and signed status updates.

- `GET /webhooks/whatsapp`: echo `hub.challenge` (200) when `hub.mode=subscribe` and
  `hub.verify_token` is ours; 403 otherwise.
- `POST /webhooks/whatsapp`: a missing or wrong `X-Hub-Signature-256` gets 403 and changes
  nothing; a body that is not JSON gets 400; statuses move ledger rows forward by message id
  (never back, so out-of-order and replayed events are harmless); a `failed` status with
  131026 or 131050 makes the user unreachable. Unknown message ids are answered 200 and
  ignored. A database that fails gets 500, and Meta delivers the event again later.
- Messages people send us (`subscribers.self_service`): each is applied and kept by its id in
  one transaction (a replay changes and answers nothing), the slots it touched are resynced
  at once (a person who joins at 06:25 is sent to at 06:30), and the reply goes out after the
  200, so Meta is never kept waiting on our rate limit.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Iterable

import redis
from sqlalchemy.orm import Session, sessionmaker
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from core import clock
from core.errors import PanchangError
from core.settings import Settings
from delivery import ledger
from models import DeliveryStatus
from models.db import session_scope
from scheduler.slots import Slot
from subscribers import self_service
from subscribers.registry import mark_unreachable
from transport.replies import Replier, send_replies
from whatsapp.errors import UNREACHABLE
from whatsapp.webhook import InboundMessage as Inbound
from whatsapp.webhook import StatusEvent, inbound_messages, signature_ok, status_events

log = logging.getLogger(__name__)
PATH = "/webhooks/whatsapp"


def routes(
    app_settings: Settings,
    sessions: sessionmaker[Session],
    redis_client: redis.Redis | None,
    replier: Replier,
) -> list[Route]:
    """The webhook's routes; the settings must hold the app secret and the verify token.
    Without `redis_client`, changes wait for Beat's periodic sync."""
    settings = app_settings.whatsapp
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
        messages = list(inbound_messages(payload))
        if not messages:
            return PlainTextResponse("ok")
        replies = await run_in_threadpool(
            handle_messages, app_settings, sessions, redis_client, messages
        )
        return PlainTextResponse("ok", background=BackgroundTask(send_replies, replier, replies))

    return [
        Route(PATH, handshake, methods=["GET"]),
        Route(PATH, receive, methods=["POST"]),
    ]


def handle_messages(
    settings: Settings,
    sessions: sessionmaker[Session],
    redis_client: redis.Redis | None,
    messages: Iterable[Inbound],
) -> list[tuple[str, str]]:
    """Apply each message in its own transaction, resync the slots they touched, and return
    the replies to send as (E.164 number, text)."""
    replies: list[tuple[str, str]] = []
    slots: set[Slot] = set()
    for message in messages:
        with session_scope(sessions) as session:
            handled = self_service.handle(session, settings, clock.now(), message)
        slots.update(handled.slots)
        if handled.reply_to and handled.reply:
            replies.append((handled.reply_to, handled.reply))
    if slots:
        resync(settings, sessions, redis_client, slots)
    return replies


def resync(
    settings: Settings,
    sessions: sessionmaker[Session],
    redis_client: redis.Redis | None,
    slots: Iterable[Slot],
) -> None:
    """The scoped sync of `slots`; on failure the change is saved and Beat's periodic sync
    schedules it, so it is logged, not raised."""
    import redbeat_sync

    if redis_client is None:
        log.warning("no Redis: slots %s wait for the periodic sync", sorted(slots))
        return
    try:
        redbeat_sync.sync(sessions, redis_client, settings, only=sorted(set(slots)))
    except (PanchangError, redis.RedisError) as err:
        log.error("resync of %s failed (the periodic sync will do it): %s", sorted(slots), err)


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
            user_id = row[1]
            if event.status is DeliveryStatus.FAILED and event.code in UNREACHABLE and user_id:
                mark_unreachable(session, user_id, event.code, now)
    return moved
