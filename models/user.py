"""A subscriber: where they are, which zone their clock runs in, and when they want the message."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ColumnElement,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    and_,
    or_,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from core import validate
from models.base import Base, UTCDateTime
from models.city import City

# The sync groups users by the raw `send_time` text and the send task matches that text, so a
# row holding `6:30` would get an entry for 06:30 that sends to nobody. Every write path
# normalises to HH:MM, and the database refuses anything else, whoever writes the row (the old
# web app writes this table directly). Plain SQL that both SQLite and Postgres understand.
SEND_TIME_IS_HHMM = (
    "length(send_time) = 5 AND substr(send_time, 3, 1) = ':'"
    " AND substr(send_time, 1, 2) BETWEEN '00' AND '23'"
    " AND substr(send_time, 2, 1) BETWEEN '0' AND '9'"
    " AND substr(send_time, 4, 2) BETWEEN '00' AND '59'"
    " AND substr(send_time, 5, 1) BETWEEN '0' AND '9'"
)

# The languages a subscriber can read their message in: English and Hindi.
LANGUAGES = ("en", "hi")
DEFAULT_LANGUAGE = "en"


class User(Base):
    __tablename__ = "user_detail"
    __table_args__ = (
        # The sync groups sendable users by slot; this lets it read the index alone.
        Index(
            "ix_user_detail_slot_active", "timezone", "send_time", "obsoleted_on", "unreachable_at"
        ),
        # The send task walks one slot's users in id order, batch by batch.
        Index("ix_user_detail_slot_id", "timezone", "send_time", "id"),
        CheckConstraint(SEND_TIME_IS_HHMM, name="send_time_hhmm"),
        CheckConstraint(f"language IN ({', '.join(repr(c) for c in LANGUAGES)})", name="language"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(16), unique=True)
    timezone: Mapped[str] = mapped_column(String(64))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    city_id: Mapped[int | None] = mapped_column(ForeignKey("city_detail.id"), nullable=True)
    # Local wall time 'HH:MM' in `timezone`; text keeps it exact and identical on every backend.
    send_time: Mapped[str] = mapped_column(String(5))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    obsoleted_on: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Set when WhatsApp said this number cannot get our messages (not on WhatsApp, or stopped
    # marketing messages); no run sends to them until `panchang users reactivate`.
    unreachable_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    unreachable_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The language of their message, replies and help: one of LANGUAGES.
    language: Mapped[str] = mapped_column(
        String(2), default=DEFAULT_LANGUAGE, server_default=DEFAULT_LANGUAGE
    )

    city: Mapped[City | None] = relationship(lazy="joined")

    @validates("send_time")
    def _normalise_send_time(self, _key: str, value: str) -> str:
        return validate.send_time(value)

    @staticmethod
    def active_at(at: datetime) -> ColumnElement[bool]:
        """SQL condition: the user is subscribed at instant `at` (not obsoleted, or only later)."""
        return or_(User.obsoleted_on.is_(None), User.obsoleted_on > at)

    @staticmethod
    def sendable_at(at: datetime) -> ColumnElement[bool]:
        """SQL condition: active at `at` and not unreachable; whom runs send to and the sync
        keeps entries for."""
        return and_(User.active_at(at), User.unreachable_at.is_(None))

    def is_active(self, at: datetime) -> bool:
        """Python twin of `active_at` for a loaded row."""
        return self.obsoleted_on is None or self.obsoleted_on > at

    def status_at(self, at: datetime) -> str:
        """`inactive`, `unreachable` or `active` at `at`."""
        return user_status(self.obsoleted_on, self.unreachable_at, at)


def user_status(
    obsoleted_on: datetime | None, unreachable_at: datetime | None, at: datetime
) -> str:
    """A user's status from their columns: `inactive` (unsubscribed), `unreachable` (WhatsApp
    cannot reach them) or `active`."""
    if obsoleted_on is not None and obsoleted_on <= at:
        return "inactive"
    return "unreachable" if unreachable_at is not None else "active"
