"""Subscribers manage themselves on WhatsApp: signed inbound webhooks against the real web app
(uvicorn on loopback), a real database (SQLite and Postgres), a real Redis for the schedule,
and replies checked at the loopback fake of the Cloud API."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from itertools import count
from typing import Any

import pytest
import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from models import InboundMessage, User
from scheduler.store import EntryStore
from tests.conftest import whatsapp_settings
from tests.helpers import meta_webhook, post_signed, serve
from web.app import create_app

SECRET = "app-secret-8f2c"  # what whatsapp_settings sets
ASHA = "919845012345"  # a Bengaluru mobile, as WhatsApp writes senders: digits, no '+'
RAVI = "919650012345"  # a Delhi mobile
_ids = count(1)


@pytest.fixture
def app_settings(settings: Settings, cloud_api: Any, redis_url: str) -> Settings:
    return whatsapp_settings(settings, cloud_api).with_redis(redis_url)


@pytest.fixture
def server(
    app_settings: Settings, sessions: sessionmaker[Session], redis_client: redis.Redis
) -> Iterator[str]:
    for url in serve(create_app(app_settings, sessions, redis_client)):
        yield f"{url}/webhooks/whatsapp"


def webhook(*messages: dict[str, Any]) -> dict[str, Any]:
    """A messages webhook as Meta posts it."""
    contacts = [{"profile": {"name": "Asha"}, "wa_id": m["from"]} for m in messages]
    return meta_webhook({"contacts": contacts, "messages": list(messages)})


def text(sender: str, body: str) -> dict[str, Any]:
    return {"from": sender, "id": f"wamid.IN{next(_ids):06d}", "timestamp": "1795317000",
            "type": "text", "text": {"body": body}}  # fmt: skip


def location(sender: str, lat: Any, lon: Any, **place: str) -> dict[str, Any]:
    spot = {"latitude": lat, "longitude": lon, **place}
    return {"from": sender, "id": f"wamid.IN{next(_ids):06d}", "timestamp": "1795317000",
            "type": "location", "location": spot}  # fmt: skip


def post(url: str, payload: Any, secret: str = SECRET) -> int:
    return post_signed(url, payload, secret)


def replies_to(api: Any, sender: str, expect: int, settle_s: float = 0.3) -> list[str]:
    """The text replies the fake Cloud API got for `sender`, once there are `expect` of them
    (they go out after the webhook's 200), and no more after `settle_s`."""
    deadline = time.monotonic() + 10
    while True:
        got = [
            r["text"] for r in api.requests() if r["type"] == "text" and r["recipient"] == sender
        ]
        if len(got) >= expect or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    time.sleep(settle_s)
    return [r["text"] for r in api.requests() if r["type"] == "text" and r["recipient"] == sender]


def user(sessions: sessionmaker[Session], phone: str) -> User | None:
    with sessions() as session:
        found = session.scalar(select(User).where(User.phone == phone))
        if found is not None:
            session.expunge(found)
        return found


def entries(client: redis.Redis, settings: Settings) -> set[str]:
    return set(EntryStore(client, settings).names())


Say = Callable[..., str]


@pytest.fixture
def say(server: str, cloud_api: Any) -> Say:
    """Send a text from `sender` and return the reply it got (exactly one)."""

    def send(sender: str, body: str) -> str:
        before = len(replies_to(cloud_api, sender, 0, settle_s=0))
        assert post(server, webhook(text(sender, body))) == 200
        got = replies_to(cloud_api, sender, before + 1, settle_s=0)
        assert len(got) == before + 1, got
        return str(got[-1])

    return send


def test_a_shared_location_subscribes_a_new_number_and_schedules_its_slot_at_once(
    server: str, cloud_api: Any, sessions: sessionmaker[Session], redis_client: redis.Redis,
    app_settings: Settings,
) -> None:  # fmt: skip
    message = location(ASHA, 12.9716, 77.5946, name="Cubbon Park", address="Bengaluru")
    assert post(server, webhook(message)) == 200
    # The schedule is updated before the webhook answers: a person who joins at 06:25 is
    # sent to at 06:30.
    assert entries(redis_client, app_settings) == {"panchang:send:Asia/Kolkata@06:30"}
    asha = user(sessions, "+" + ASHA)
    assert asha is not None
    assert (asha.timezone, asha.send_time, asha.language) == ("Asia/Kolkata", "06:30", "en")
    assert (asha.latitude, asha.longitude) == (12.9716, 77.5946)
    [reply] = replies_to(cloud_api, ASHA, 1)
    assert reply.startswith("Subscribed: the day's panchangam for Bengaluru every day at 06:30")

    # Meta delivers the same webhook again: no second user, no second reply.
    assert post(server, webhook(message)) == 200
    assert replies_to(cloud_api, ASHA, 1, settle_s=0.5) == [reply]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 1
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 1


def test_a_number_that_wrote_in_hindi_is_subscribed_in_hindi(
    server: str, cloud_api: Any, sessions: sessionmaker[Session], say: Say
) -> None:
    assert say(RAVI, "नमस्ते").startswith("आपकी सदस्यता नहीं है।")
    assert post(server, webhook(location(RAVI, 28.6139, 77.2090))) == 200
    replies = replies_to(cloud_api, RAVI, 2)
    assert replies[-1].startswith("सदस्यता शुरू: New Delhi का दैनिक पंचांग हर दिन 06:30")
    ravi = user(sessions, "+" + RAVI)
    assert ravi is not None and ravi.language == "hi"


@pytest.fixture
def asha(server: str, cloud_api: Any, sessions: sessionmaker[Session]) -> int:
    """Asha, subscribed by sharing her location in Bengaluru (and her reply consumed)."""
    assert post(server, webhook(location(ASHA, 12.9716, 77.5946))) == 200
    replies_to(cloud_api, ASHA, 1, settle_s=0)
    found = user(sessions, "+" + ASHA)
    assert found is not None
    return found.id


def test_time_moves_the_message_and_its_slot_in_english_and_hindi(
    asha: int, say: Say, sessions: sessionmaker[Session], redis_client: redis.Redis,
    app_settings: Settings,
) -> None:  # fmt: skip
    assert (
        say(ASHA, "  time   05:45 ") == "Done: your panchangam now comes at 05:45 (Asia/Kolkata)."
    )
    # She was the slot's last user: its entry goes, the new one comes.
    assert entries(redis_client, app_settings) == {"panchang:send:Asia/Kolkata@05:45"}
    # Hindi, with the digits a Hindi keyboard types.
    assert say(ASHA, "समय ०७:१५") == "हो गया: अब आपका पंचांग 07:15 (Asia/Kolkata) पर आएगा।"
    assert entries(redis_client, app_settings) == {"panchang:send:Asia/Kolkata@07:15"}
    assert say(ASHA, "TIME 25:00").startswith("Please write the time as 24-hour")
    asha_now = user(sessions, "+" + ASHA)
    assert asha_now is not None and asha_now.send_time == "07:15"


def test_lang_switches_the_language_of_messages_and_replies(
    asha: int, say: Say, sessions: sessionmaker[Session]
) -> None:
    assert say(ASHA, "LANG hi") == "हो गया: अब आपके संदेश हिंदी में आएँगे।"
    assert user(sessions, "+" + ASHA).language == "hi"  # type: ignore[union-attr]
    # Help comes in the user's language.
    assert say(ASHA, "what is this?").startswith("आपका पंचांग हर दिन 06:30 (Asia/Kolkata) पर आता है।")
    assert say(ASHA, "भाषा English") == "Done: your messages will be in English."
    assert user(sessions, "+" + ASHA).language == "en"  # type: ignore[union-attr]
    assert say(ASHA, "help").startswith("Your panchangam comes every day at 06:30 (Asia/Kolkata).")
    assert say(ASHA, "lang klingon").startswith("Languages: LANG en for English")


@pytest.mark.parametrize(
    ("stop", "start", "stopped", "started"),
    [
        ("STOP", "START", "Stopped: you will get no more", "Welcome back"),
        ("unsubscribe", "start", "Stopped: you will get no more", "Welcome back"),
        ("बंद", "शुरू", "बंद: अब आपको संदेश नहीं मिलेंगे।", "फिर से शुरू"),
    ],
)
def test_stop_and_start_take_the_user_and_the_slot_out_and_back(
    asha: int, say: Say, sessions: sessionmaker[Session], redis_client: redis.Redis,
    app_settings: Settings, stop: str, start: str, stopped: str, started: str,
) -> None:  # fmt: skip
    assert say(ASHA, stop).startswith(stopped)
    assert user(sessions, "+" + ASHA).obsoleted_on is not None  # type: ignore[union-attr]
    assert entries(redis_client, app_settings) == set()  # she was its last user
    assert say(ASHA, stop).startswith(stopped)  # stopping twice is still "stopped"
    assert say(ASHA, start).startswith(started)
    assert user(sessions, "+" + ASHA).obsoleted_on is None  # type: ignore[union-attr]
    assert entries(redis_client, app_settings) == {"panchang:send:Asia/Kolkata@06:30"}


def test_start_clears_unreachable(asha: int, say: Say, sessions: sessionmaker[Session]) -> None:
    from datetime import UTC, datetime

    from subscribers.registry import mark_unreachable

    with sessions.begin() as session:
        mark_unreachable(session, asha, 131026, datetime.now(UTC))
    assert say(ASHA, "Start").startswith("Welcome back")
    assert user(sessions, "+" + ASHA).unreachable_at is None  # type: ignore[union-attr]


def test_a_new_location_moves_a_known_user_to_the_new_zone(
    asha: int, server: str, cloud_api: Any, sessions: sessionmaker[Session],
    redis_client: redis.Redis, app_settings: Settings,
) -> None:  # fmt: skip
    assert post(server, webhook(location(ASHA, 40.7128, -74.0060))) == 200
    moved = user(sessions, "+" + ASHA)
    assert moved is not None and moved.id == asha
    assert (moved.timezone, moved.send_time) == ("America/New_York", "06:30")
    assert entries(redis_client, app_settings) == {"panchang:send:America/New_York@06:30"}
    assert replies_to(cloud_api, ASHA, 2)[-1] == (
        "Place changed to New York City (America/New_York); your panchangam comes at 06:30."
    )


def test_commands_from_a_number_that_is_not_subscribed_change_nothing(
    say: Say, sessions: sessionmaker[Session], redis_client: redis.Redis, app_settings: Settings
) -> None:
    for body in ("STOP", "TIME 05:45", "LANG hi"):
        assert say(RAVI, body).startswith("You are not subscribed. Share your location")
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0
    assert entries(redis_client, app_settings) == set()


def test_bad_signatures_invalid_senders_and_impossible_places_change_nothing(
    server: str, cloud_api: Any, sessions: sessionmaker[Session], redis_client: redis.Redis,
    app_settings: Settings, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.WARNING, logger="subscribers.self_service")
    assert post(server, webhook(location(ASHA, 12.9716, 77.5946)), secret="guessed") == 403
    # 4477009 is no UK number; latitude 123 is nowhere; mid-Atlantic has no place's zone.
    assert post(server, webhook(location("4477009", 51.5072, -0.1276))) == 200
    assert post(server, webhook(location(ASHA, 123.0, 77.59))) == 200
    assert post(server, webhook(location(ASHA, 0.0, -30.0))) == 200
    replies = replies_to(cloud_api, ASHA, 1)
    assert replies == [
        "We could not find a time zone for that location. Please share a place on land."
    ]
    assert [r for r in cloud_api.requests() if r["recipient"] == "4477009"] == []
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0
    assert entries(redis_client, app_settings) == set()
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "'4477009'" in logged and "latitude 123.0" in logged
