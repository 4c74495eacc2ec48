"""Subscribers manage themselves on WhatsApp: one message in, the change made, one reply out.

A shared location subscribes a new number (zone from the coordinates, place from the nearest
known city) or moves a known one; `STOP`, `START`, `TIME`, `LANG` and `HELP` do what they say
(`subscribers.chat` reads them). Each message is kept by WhatsApp's id in the same transaction
as the change, so a webhook Meta delivers twice changes and answers once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import validate
from core.errors import ValidationError
from core.settings import Settings
from models import InboundMessage, User
from models.user import DEFAULT_LANGUAGE
from scheduler.slots import Slot
from subscribers import chat, registry
from subscribers.chat import Command, Kind
from subscribers.fields import language as language_code
from whatsapp.webhook import InboundMessage as Inbound

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Handled:
    """What one inbound message led to: the reply (to an E.164 number), and the slots whose
    entries may have changed. `reply_to` is None when nothing is answered (a replay, or a
    sender or position we refused)."""

    reply_to: str | None = None
    reply: str | None = None
    slots: tuple[Slot, ...] = ()


def handle(session: Session, settings: Settings, now: datetime, message: Inbound) -> Handled:
    """Apply `message` (flushed, not committed: the caller commits, and a failure part-way
    leaves nothing, so Meta's redelivery tries again)."""
    try:
        phone = validate.whatsapp_phone(message.sender)
    except ValidationError as err:
        log.warning("inbound %s ignored: %s", message.message_id, err)
        return Handled()
    if session.get(InboundMessage, message.message_id) is not None:
        log.info(
            "inbound %s from %s: a replay, already handled", message.message_id, _masked(phone)
        )
        return Handled()
    if message.type == "location":
        try:
            position = (validate.latitude(message.latitude), validate.longitude(message.longitude))
        except ValidationError as err:
            log.warning("inbound %s from %s ignored: %s", message.message_id, _masked(phone), err)
            return Handled()
        command = Command(Kind.SUBSCRIBE)
    else:
        position = None
        command = chat.parse(message.text)
    user = registry.find_by_phone(session, phone)
    outcome, language, slots, values = _apply(session, settings, now, phone, user, command,
                                              position, message.name)  # fmt: skip
    session.add(
        InboundMessage(
            message_id=message.message_id, phone=phone, received_at=now,
            command=command.kind.value, language=command.language, outcome=outcome,
        )
    )  # fmt: skip
    try:
        session.flush()
    except IntegrityError:  # the same message handled by a concurrent request
        session.rollback()
        return Handled()
    log.info("inbound %s from %s: %s -> %s", message.message_id, _masked(phone),
             command.kind.value, outcome)  # fmt: skip
    return Handled(phone, chat.reply(outcome, language, **values), slots)


def _apply(
    session: Session,
    settings: Settings,
    now: datetime,
    phone: str,
    user: User | None,
    command: Command,
    position: tuple[float, float] | None,
    location_name: str | None,
) -> tuple[str, str, tuple[Slot, ...], dict[str, str]]:
    """(outcome, reply language, slots touched, reply values) for `command`."""
    if user is None:
        language = command.language or _last_language(session, phone) or DEFAULT_LANGUAGE
        if command.kind is not Kind.SUBSCRIBE:
            return "not_subscribed", language, (), {}
        assert position is not None
        zone, city = _place(*position, location_name)
        if zone is None:
            return "no_zone", language, (), {}
        change = registry.add_user(
            session, settings, now, phone=phone, timezone=zone, latitude=position[0],
            longitude=position[1], city=city, language=language,
        )  # fmt: skip
        return "subscribed", language, change.slots, _values(change.user)

    language = command.language or user.language
    slots: tuple[Slot, ...] = ()
    if command.kind is Kind.SUBSCRIBE:
        assert position is not None
        zone, city = _place(*position, location_name)
        if zone is None:
            return "no_zone", user.language, (), {}
        was_active = user.is_active(now) and user.unreachable_at is None
        change = registry.update_user(
            session, now, user.id, timezone=zone, latitude=position[0], longitude=position[1],
            city=city or "",
        )  # fmt: skip
        slots = change.slots
        if not was_active:
            slots += registry.reactivate_user(session, now, user.id).slots
        return ("moved" if was_active else "subscribed"), user.language, slots, _values(user)
    if command.kind is Kind.STOP:
        if user.is_active(now):
            slots = registry.deactivate_user(session, now, user.id).slots
        return "stopped", language, slots, {}
    if command.kind is Kind.START:
        if user.is_active(now) and user.unreachable_at is None:
            return "already_active", language, (), _values(user)
        slots = registry.reactivate_user(session, now, user.id).slots
        return "started", language, slots, _values(user)
    if command.kind is Kind.TIME:
        try:
            send_time = validate.send_time(command.argument)
        except ValidationError:
            return "bad_time", language, (), {}
        slots = registry.update_user(session, now, user.id, send_time=send_time).slots
        return "time_set", language, slots, _values(user)
    if command.kind is Kind.LANG:
        try:
            new_language = language_code(command.argument)
        except ValidationError:
            return "bad_language", language, (), {}
        registry.update_user(session, now, user.id, language=new_language)
        return "language_set", new_language, (), {}
    if not user.is_active(now):
        return "stopped", user.language, (), {}
    return "help", user.language, (), _values(user)


def _place(latitude: float, longitude: float, name: str | None) -> tuple[str | None, str | None]:
    """The zone at the position (None at sea) and the place name the message will carry:
    the nearest known city, else the name WhatsApp sent with the location."""
    from places.locate import nearest_city, zone_at

    zone = zone_at(latitude, longitude)
    if zone is None:
        return None, None
    city = nearest_city(latitude, longitude)
    fallback = (name or "").strip()[:120] or None
    return zone, city.name if city is not None else fallback


def _last_language(session: Session, phone: str) -> str | None:
    """The language of the last command this number wrote to us, if any told one: a person
    who asked for help in Hindi and then shares their location reads Hindi."""
    return session.scalar(
        select(InboundMessage.language)
        .where(InboundMessage.phone == phone, InboundMessage.language.is_not(None))
        .order_by(InboundMessage.received_at.desc())
        .limit(1)
    )


def _values(user: User) -> dict[str, str]:
    place = user.city.name if user.city else f"{user.latitude:.4f}, {user.longitude:.4f}"
    return {"place": place, "time": user.send_time, "zone": user.timezone}


def _masked(phone: str) -> str:
    """A phone number for logs: enough to tell numbers apart, not enough to call one."""
    return phone[:-6] + "****" + phone[-2:] if len(phone) > 8 else "****"
