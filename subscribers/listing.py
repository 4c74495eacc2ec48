"""A read-only view of subscribers for people (`users list`) and scripts (`--json`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import validate
from models import City, User
from models.user import user_status


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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """One line for people, e.g. 'user 7 +919876543210: Asia/Kolkata at 06:30, ...'."""
        state = "" if self.status == "active" else f" ({self.status})"
        return (
            f"user {self.id} {self.phone}: {self.timezone} at {self.send_time}, "
            f"lat {self.latitude} lon {self.longitude}, city {self.city or '-'}{state}"
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
        )
        for row in session.execute(query)
    ]
