"""A subscriber: where they are, which zone their clock runs in, and when they want the message."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Float,
    ForeignKey,
    Index,
    String,
    or_,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, UTCDateTime
from models.city import City


class User(Base):
    __tablename__ = "user_detail"
    __table_args__ = (
        # The sync groups active users by slot; this lets it read the index alone.
        Index("ix_user_detail_slot_active", "timezone", "send_time", "obsoleted_on"),
        # The send task walks one slot's users in id order, batch by batch.
        Index("ix_user_detail_slot_id", "timezone", "send_time", "id"),
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

    city: Mapped[City | None] = relationship(lazy="joined")

    @staticmethod
    def active_at(at: datetime) -> ColumnElement[bool]:
        """SQL condition: the user is subscribed at instant `at` (not obsoleted, or only later)."""
        return or_(User.obsoleted_on.is_(None), User.obsoleted_on > at)

    def is_active(self, at: datetime) -> bool:
        """Python twin of `active_at` for a loaded row."""
        return self.obsoleted_on is None or self.obsoleted_on > at
