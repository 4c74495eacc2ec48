"""A read-only view of subscribers for people (`users list`) and scripts (`--json`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import validate
from models import City, Delivery, User
from models.user import user_status

# How many of a user's latest ledger rows `users show` prints.
RECENT_DELIVERIES = 7


@dataclass(frozen=True)
class UserView:
    """One subscriber as shown: position in degrees, send time local 'HH:MM'."""

    id: int
    phone: str
    timezone: str
    send_time: str
    latitude: float
    longitude: float
    city: str | None
    active: bool
    # `active`, `inactive` (unsubscribed) or `unreachable` (WhatsApp cannot reach them).
    status: str = "active"
    language: str = "en"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """One line for people, e.g. 'user 7 +919876543210: Asia/Kolkata at 06:30, ...'."""
        state = "" if self.status == "active" else f" ({self.status})"
        return (
            f"user {self.id} {self.phone}: {self.timezone} at {self.send_time}, "
            f"lat {self.latitude} lon {self.longitude}, city {self.city or '-'}, "
            f"language {self.language}{state}"
        )


def view_of(user: User, now: datetime) -> UserView:
    """The view of a loaded user; `active` as of aware UTC instant `now`."""
    return UserView(
        id=user.id,
        phone=user.phone,
        timezone=user.timezone,
        send_time=user.send_time,
        latitude=user.latitude,
        longitude=user.longitude,
        city=user.city.name if user.city else None,
        active=user.is_active(now),
        status=user.status_at(now),
        language=user.language,
    )


def list_users(session: Session, now: datetime, zone: str | None = None) -> list[UserView]:
    """Every user in id order, active or not, optionally only those in IANA `zone`."""
    # Plain columns rather than ORM objects: a listing of many users needs no identity map.
    query = (
        select(
            User.id,
            User.phone,
            User.timezone,
            User.send_time,
            User.latitude,
            User.longitude,
            City.name.label("city"),
            User.obsoleted_on,
            User.unreachable_at,
            User.language,
        )
        .outerjoin(City, User.city_id == City.id)
        .order_by(User.id)
    )
    if zone is not None:
        query = query.where(User.timezone == validate.zone(zone))
    return [
        UserView(
            id=row.id,
            phone=row.phone,
            timezone=row.timezone,
            send_time=row.send_time,
            latitude=row.latitude,
            longitude=row.longitude,
            city=row.city,
            active=row.obsoleted_on is None or row.obsoleted_on > now,
            status=user_status(row.obsoleted_on, row.unreachable_at, now),
            language=row.language,
        )
        for row in session.execute(query)
    ]


def user_details(session: Session, user: User, now: datetime) -> dict[str, Any]:
    """Everything about one user for `users show`: the view, when they joined and left, why
    WhatsApp could not reach them, and their last messages (newest first)."""
    recent = session.execute(
        select(Delivery.local_date, Delivery.status, Delivery.error_code, Delivery.message_id)
        .where(Delivery.user_id == user.id)
        .order_by(Delivery.local_date.desc())
        .limit(RECENT_DELIVERIES)
    )
    return {
        **view_of(user, now).as_dict(),
        "created_at": user.created_at.isoformat(),
        "inactive_since": user.obsoleted_on.isoformat() if user.obsoleted_on else None,
        "unreachable_since": user.unreachable_at.isoformat() if user.unreachable_at else None,
        "unreachable_code": user.unreachable_code,
        "recent_deliveries": [
            {"local_date": row.local_date.isoformat(), "status": row.status,
             "error_code": row.error_code, "message_id": row.message_id}
            for row in recent
        ],
    }  # fmt: skip
