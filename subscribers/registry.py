"""Add, update and deactivate one subscriber. Each returns the slots whose RedBeat entry may
need a resync, so the caller can reconcile just those instead of every zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import validate
from core.errors import ConflictError, NotFoundError, ValidationError
from core.settings import Settings
from models import InboundMessage, User
from scheduler.slots import Slot
from subscribers import cities, phones
from subscribers.fields import city_name, new_user, zone_warnings
from subscribers.fields import language as language_of


@dataclass(frozen=True)
class UserChange:
    """The user as written (flushed, not committed) and the slots the change touched."""

    user: User
    slots: tuple[Slot, ...]
    # Worth telling the operator, did not stop the change (a zone unlike the coordinates').
    warnings: tuple[str, ...] = ()


def add_user(
    session: Session,
    settings: Settings,
    now: datetime,
    *,
    phone: str,
    timezone: str | None,
    latitude: object,
    longitude: object,
    city: str | None = None,
    send_time: str | None = None,
    language: str | None = None,
    region: str | None = None,
) -> UserChange:
    """Subscribe a new user at aware UTC instant `now`.

    `latitude`/`longitude` are degrees (north/east positive); `timezone` defaults to the zone
    at those coordinates; `send_time` is local 'HH:MM' (default
    `settings.default_send_time`); `region` reads a phone number written without its country
    code. ValidationError for a bad field, ConflictError when the phone is already
    registered, active or not.
    """
    fields = new_user(
        phone=phone,
        timezone=timezone,
        latitude=latitude,
        longitude=longitude,
        city=city,
        send_time=send_time,
        default_send_time=settings.default_send_time,
        language_code=language,
        region=region,
    )
    conflict = phones.taken(session, [fields.phone], now).get(fields.phone)
    if conflict:
        raise ConflictError(conflict)
    user = User(
        phone=fields.phone,
        timezone=fields.timezone,
        latitude=fields.latitude,
        longitude=fields.longitude,
        send_time=fields.send_time,
        language=fields.language,
        created_at=now,
        obsoleted_on=None,
    )
    if fields.city:
        user.city = cities.find_or_create(
            session, fields.city, fields.timezone, fields.latitude, fields.longitude
        )
    session.add(user)
    _flush(session, fields.phone)
    return UserChange(user, (fields.slot,), fields.warnings)


def update_user(
    session: Session,
    now: datetime,
    user_id: int,
    *,
    timezone: str | None = None,
    send_time: str | None = None,
    latitude: object | None = None,
    longitude: object | None = None,
    city: str | None = None,
    language: str | None = None,
) -> UserChange:
    """Change any of a user's zone, send time ('HH:MM'), position (degrees), city or language.

    None leaves a field as it is; `city=""` removes the city. A city belongs to a zone, so a
    new zone with no new city moves the user to the city of the same name in the new zone.
    The change carries a warning when the zone and the position disagree afterwards.
    Inactive users may be updated too (their rows are kept for the ledger). Returns the old
    and the new slot (one slot when they are equal). NotFoundError for an unknown id.
    """
    # Validate everything before touching the row so a bad value changes nothing.
    new_zone = validate.user_zone(timezone) if timezone is not None else None
    new_time = validate.send_time(send_time) if send_time is not None else None
    new_lat = validate.latitude(latitude) if latitude is not None else None
    new_lon = validate.longitude(longitude) if longitude is not None else None
    new_city = city_name(city) if city is not None else None
    new_language = language_of(language) if language is not None else None
    if all(v is None for v in (timezone, send_time, latitude, longitude, city, language)):
        raise ValidationError(
            "update",
            user_id,
            "nothing to change: give a timezone, send time, position, city or language",
        )
    user = get_user(session, user_id)
    if new_language is not None:
        user.language = new_language
    old_slot = Slot(user.timezone, user.send_time)
    if new_zone is not None:
        user.timezone = new_zone
    if new_time is not None:
        user.send_time = new_time
    if new_lat is not None:
        user.latitude = new_lat
    if new_lon is not None:
        user.longitude = new_lon
    city_wanted = new_city if city is not None else (user.city.name if user.city else None)
    if city_wanted is None:
        user.city = None
    elif user.city is None or (user.city.name, user.city.timezone) != (city_wanted, user.timezone):
        user.city = cities.find_or_create(
            session, city_wanted, user.timezone, user.latitude, user.longitude
        )
    _flush(session, user.phone)
    warnings: tuple[str, ...] = ()
    if any(v is not None for v in (timezone, latitude, longitude)):
        # Not re-validated: a row written before zones were checked may be updated too.
        warnings = zone_warnings(user.timezone, user.latitude, user.longitude)
    new_slot = Slot(user.timezone, user.send_time)
    slots = (old_slot,) if new_slot == old_slot else (old_slot, new_slot)
    return UserChange(user, slots, warnings)


def deactivate_user(session: Session, now: datetime, user_id: int) -> UserChange:
    """Unsubscribe a user from aware UTC instant `now` on; the row stays for the ledger.

    ConflictError when the user is already inactive: a second deactivation is more likely a
    wrong id than an intended no-op, and saying so costs a script nothing.
    """
    user = get_user(session, user_id)
    if not user.is_active(now):
        raise ConflictError(
            f"user {user_id} ({user.phone}) is already inactive since "
            f"{user.obsoleted_on:%Y-%m-%d %H:%M} UTC"
        )
    user.obsoleted_on = now
    session.flush()
    return UserChange(user, (Slot(user.timezone, user.send_time),))


def mark_unreachable(
    session: Session | Connection, user_id: int, code: int | None, at: datetime
) -> bool:
    """Record that WhatsApp cannot reach the user (error `code`): no run sends to them until
    they are reactivated. False when they were already marked."""
    result = session.execute(
        update(User)
        .where(User.id == user_id, User.unreachable_at.is_(None))
        .values(unreachable_at=at, unreachable_code=code)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def reactivate_user(session: Session, now: datetime, user_id: int) -> UserChange:
    """Make a user who left, or whom WhatsApp could not reach, active again from `now`.

    ConflictError when the user is already active and reachable.
    """
    user = get_user(session, user_id)
    if user.is_active(now) and user.unreachable_at is None:
        raise ConflictError(f"user {user_id} ({user.phone}) is already active")
    user.obsoleted_on = None
    user.unreachable_at = None
    user.unreachable_code = None
    session.flush()
    return UserChange(user, (Slot(user.timezone, user.send_time),))


def delete_user(session: Session, user_id: int) -> UserChange:
    """Erase a user, as a person may ask: their row and the messages they sent us go. Their
    ledger rows stay, without a user (`user_id` NULL), so the counts of past days stay true
    and nothing left names them. Returns their slot, whose entry may have to go."""
    user = get_user(session, user_id)
    slot = Slot(user.timezone, user.send_time)
    # The ledger rows lose their user by the foreign key's ON DELETE SET NULL (SQLite's
    # foreign-key pragma is on for every engine, models/db.py).
    session.execute(
        delete(InboundMessage)
        .where(InboundMessage.phone == user.phone)
        .execution_options(synchronize_session=False)
    )
    session.delete(user)
    session.flush()
    return UserChange(user, (slot,))


def find_by_phone(session: Session, phone: str) -> User | None:
    """The user with E.164 `phone`, active or not."""
    return session.scalar(select(User).where(User.phone == phone))


def get_user(session: Session, user_id: int) -> User:
    """The user with id `user_id`; NotFoundError when there is none."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"user {user_id} not found")
    return user


def _flush(session: Session, phone: str) -> None:
    # The phone check above reads before it writes; a concurrent writer can still win the race,
    # and the unique constraints then have the last word.
    try:
        session.flush()
    except IntegrityError as err:
        raise ConflictError(
            f"a concurrent change conflicts with saving phone {phone!r}; try again"
        ) from err
