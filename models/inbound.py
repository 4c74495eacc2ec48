"""Messages subscribers sent us, kept by WhatsApp's message id so a replayed webhook is
processed once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class InboundMessage(Base):
    __tablename__ = "inbound_message"
    __table_args__ = (
        # A location from a new number takes the language of their last text to us.
        Index("ix_inbound_message_phone_received", "phone", "received_at"),
    )

    # WhatsApp's id of the message ("wamid...."): the first webhook that carries it wins.
    message_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    # E.164, as users are stored; erased with the user (`panchang users delete`).
    phone: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # What it asked for (`subscribe`, `stop`, `time`, ...), in which language, and what we did.
    command: Mapped[str] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(2), nullable=True)
    outcome: Mapped[str] = mapped_column(String(200))
