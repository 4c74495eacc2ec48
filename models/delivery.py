"""The ledger: one row per (user, local date), claimed before a send and marked after it."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # created, maybe claimed; not yet sent
    ACCEPTED = "accepted"  # WhatsApp took it (HTTP 200 with a message id); delivery comes later
    SENT = "sent"  # WhatsApp sent it to the phone (status webhook), or the outbox wrote it
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"  # a final failure: a dead letter (`panchang failures`)
    SKIPPED = "skipped"


# How far along a row is: a status webhook only ever moves a row forward, so a late or replayed
# `delivered` never undoes a `read`. `failed` after `sent` is a delivery failure; after
# `delivered` it would contradict what the phone reported and is ignored.
STATUS_RANK = {
    DeliveryStatus.PENDING: 0,
    DeliveryStatus.SKIPPED: 0,
    DeliveryStatus.ACCEPTED: 1,
    DeliveryStatus.SENT: 2,
    DeliveryStatus.FAILED: 3,
    DeliveryStatus.DELIVERED: 4,
    DeliveryStatus.READ: 5,
}


class Delivery(Base):
    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("user_id", "local_date", name="user_local_date"),
        CheckConstraint(
            "status IN ('pending', 'accepted', 'sent', 'delivered', 'read', 'failed', 'skipped')",
            name="status_known",
        ),
        # Status webhooks find their row by WhatsApp's message id.
        Index("ix_delivery_message_id", "message_id", unique=True),
        # Listings, dead letters and a slot's failure ratio are per (slot, local date).
        Index("ix_delivery_slot_date", "timezone", "send_time", "local_date", "status"),
        # The retention cleanup deletes by local date, a few thousand rows at a time.
        Index("ix_delivery_local_date", "local_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # NULL once the user was erased (`panchang users delete`): the row stays, so a day's counts
    # stay true, but nothing in it names the person any more.
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_detail.id", ondelete="SET NULL"), nullable=True
    )
    local_date: Mapped[date] = mapped_column(Date)
    timezone: Mapped[str] = mapped_column(String(64))
    send_time: Mapped[str] = mapped_column(String(5))
    status: Mapped[str] = mapped_column(String(10), default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # WhatsApp's id for the message ("wamid...."), once accepted.
    message_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # The provider's error code of the last failure, and its message.
    error_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Set when a run's batch takes the row to send it; another run leaves a row alone while the
    # claim is younger than the lease. `claimed_by` is that batch attempt's random token, so a
    # claim is renewed, released or used only by the attempt that made it.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
