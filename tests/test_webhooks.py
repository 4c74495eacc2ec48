"""The WhatsApp webhook, served by uvicorn on loopback: Meta's handshake, signatures, and
statuses that arrive late, out of order or twice."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cli import main
from core.settings import Settings, WhatsAppSettings
from delivery import ledger
from models import Delivery, User
from tests.helpers import meta_webhook, post_signed, serve
from web.app import create_app

SECRET = "app-secret-8f2c"
VERIFY = "verify-me-41"
DAY = date(2026, 11, 22)
AT = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)


@pytest.fixture
def server(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[str]:
    settings = replace(settings, whatsapp=WhatsAppSettings(app_secret=SECRET, verify_token=VERIFY))
    for url in serve(create_app(settings, sessions)):
        yield f"{url}/webhooks/whatsapp"


@pytest.fixture
def sent(sessions: sessionmaker[Session]) -> dict[str, int]:
    """Two users whose messages WhatsApp accepted: message id -> user id."""
    with sessions.begin() as session:
        users = [
            User(phone=phone, timezone="Asia/Kolkata", latitude=12.97, longitude=77.59,
                 send_time="06:30", created_at=AT)
            for phone in ("+919845012345", "+919845012346")
        ]  # fmt: skip
        session.add_all(users)
        session.flush()
        ids = [u.id for u in users]
        ledger.ensure_rows(session, ids, DAY, "Asia/Kolkata", "06:30", AT)
        rows = session.scalars(select(Delivery).order_by(Delivery.user_id)).all()
        for n, row in enumerate(rows):
            ledger.mark_done(session, row.id, "accepted", f"wamid.HBgM{n}", AT)
    return {"wamid.HBgM0": ids[0], "wamid.HBgM1": ids[1]}


def statuses(*items: dict[str, Any]) -> dict[str, Any]:
    return meta_webhook({"statuses": list(items)})


def status(message_id: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"id": message_id, "status": name, "timestamp": "1795317000",
            "recipient_id": "919845012345", **extra}  # fmt: skip


def post(url: str, payload: Any, secret: str | None = SECRET, raw: bytes | None = None) -> int:
    return post_signed(url, payload, secret, raw)


def row_states(sessions: sessionmaker[Session]) -> list[tuple[str | None, str, int | None]]:
    with sessions() as session:
        return [
            (r.message_id, r.status, r.error_code)
            for r in session.scalars(select(Delivery).order_by(Delivery.user_id))
        ]


def test_the_handshake_echoes_the_challenge_only_for_our_verify_token(server: str) -> None:
    ok = httpx.get(server, params={"hub.mode": "subscribe", "hub.verify_token": VERIFY,
                                   "hub.challenge": "1158201444"})  # fmt: skip
    assert (ok.status_code, ok.text) == (200, "1158201444")
    wrong = httpx.get(server, params={"hub.mode": "subscribe", "hub.verify_token": "guess",
                                      "hub.challenge": "1"})  # fmt: skip
    assert wrong.status_code == 403
    mode = httpx.get(server, params={"hub.mode": "unsubscribe", "hub.verify_token": VERIFY})
    assert mode.status_code == 403


def test_statuses_move_a_row_forward_only_whatever_order_and_however_often_they_come(
    server: str, sent: dict[str, int], sessions: sessionmaker[Session]
) -> None:
    assert post(server, statuses(status("wamid.HBgM0", "sent"))) == 200
    assert row_states(sessions)[0] == ("wamid.HBgM0", "sent", None)
    # read before delivered (a message read at once may never get `delivered` first)
    assert post(server, statuses(status("wamid.HBgM0", "read"))) == 200
    assert post(server, statuses(status("wamid.HBgM0", "delivered"))) == 200
    assert post(server, statuses(status("wamid.HBgM0", "sent"))) == 200
    assert row_states(sessions)[0] == ("wamid.HBgM0", "read", None)
    # The same batch replayed, with an id we never sent: nothing changes, still 200.
    replay = statuses(
        status("wamid.HBgM0", "delivered"), status("wamid.HBgM1", "delivered"),
        status("wamid.unknown", "read"),
    )  # fmt: skip
    assert post(server, replay) == 200
    assert post(server, replay) == 200
    assert row_states(sessions) == [
        ("wamid.HBgM0", "read", None),
        ("wamid.HBgM1", "delivered", None),
    ]


def test_a_failed_status_marks_the_row_and_an_unreachable_recipient(
    server: str, sent: dict[str, int], sessions: sessionmaker[Session]
) -> None:
    failed = status("wamid.HBgM1", "failed", errors=[{
        "code": 131026, "title": "Message undeliverable",
        "message": "Message undeliverable",
        "error_data": {"details": "Receiver is not on WhatsApp"},
    }])  # fmt: skip
    assert post(server, statuses(status("wamid.HBgM1", "sent"), failed)) == 200
    assert row_states(sessions)[1] == ("wamid.HBgM1", "failed", 131026)
    with sessions() as session:
        user = session.get_one(User, sent["wamid.HBgM1"])
        row = session.scalars(select(Delivery).where(Delivery.message_id == "wamid.HBgM1")).one()
    assert (user.status_at(AT), user.unreachable_code) == ("unreachable", 131026)
    assert (
        row.error == "Message undeliverable - Message undeliverable - Receiver is not on WhatsApp"
    )
    # A `failed` after `read` contradicts the phone and changes nothing.
    assert (
        post(server, statuses(status("wamid.HBgM0", "read"), failed | {"id": "wamid.HBgM0"})) == 200
    )
    assert row_states(sessions)[0] == ("wamid.HBgM0", "read", None)


@pytest.mark.parametrize("secret", [None, "not-the-secret"])
def test_a_missing_or_wrong_signature_is_refused_and_changes_nothing(
    server: str, sent: dict[str, int], sessions: sessionmaker[Session], secret: str | None
) -> None:
    before = row_states(sessions)
    assert post(server, statuses(status("wamid.HBgM0", "read")), secret=secret) == 403
    assert row_states(sessions) == before


def test_a_signed_body_that_is_not_json_gets_400(server: str, sent: dict[str, int]) -> None:
    assert post(server, None, raw=b"{not json") == 400


def test_panchang_web_will_not_start_without_the_webhook_secrets(database_url: str) -> None:
    result = CliRunner().invoke(main, ["--database-url", database_url, "web"], env={
        "WHATSAPP_APP_SECRET": "", "WHATSAPP_VERIFY_TOKEN": ""})  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: WHATSAPP_APP_SECRET is not set")
