"""Phone uniqueness: a number belongs to at most one user, active or not (the column is unique)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import User


def taken(session: Session, phones: Collection[str], now: datetime) -> dict[str, str]:
    """For each of `phones` already in the database, why it can't be used again.

    Callers pass at most a batch of numbers so the IN list stays well under driver limits.
    """
    if not phones:
        return {}
    rows = session.execute(
        select(User.id, User.phone, User.obsoleted_on).where(User.phone.in_(phones))
    )
    return {
        row.phone: taken_reason(
            row.phone, row.id, row.obsoleted_on is None or row.obsoleted_on > now
        )
        for row in rows
    }


def taken_reason(phone: str, user_id: int, active: bool) -> str:
    state = "active" if active else "inactive"
    return f"phone {phone!r} is already registered (user {user_id}, {state})"
