"""The ledger as people read it: deliveries with their status, and dead letters to send again.

A dead letter is a row whose message failed for good: WhatsApp refused it (a final code), the
recipient is unreachable, the per-user limits held it, a status webhook reported it failed, or
the slot's grace passed with it unsent. `retry_failures` puts matching rows back to pending
so a run sends them again, still at most one row per user and local date.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from models import Delivery, DeliveryStatus, User


@dataclass(frozen=True)
class DeliveryView:
    # Both None for the rows of a user who was erased: the ledger keeps their counts only.
    user_id: int | None
    phone: str | None
    timezone: str
    send_time: str
    local_date: date
    status: str
    message_id: str | None
    error_code: int | None
    error: str | None
    attempts: int
    updated_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["local_date"] = self.local_date.isoformat()
        out["updated_at"] = self.updated_at.isoformat() if self.updated_at else None
        return out


_Query = TypeVar("_Query", bound=Select)


@dataclass(frozen=True)
class Filters:
    """Which rows: a local date, a zone, a status, an error code (each optional)."""

    local_date: date | None = None
    zone: str | None = None
    status: str | None = None
    code: int | None = None

    def apply(self, query: _Query) -> _Query:
        if self.local_date is not None:
            query = query.where(Delivery.local_date == self.local_date)
        if self.zone is not None:
            query = query.where(Delivery.timezone == self.zone)
        if self.status is not None:
            query = query.where(Delivery.status == self.status)
        if self.code is not None:
            query = query.where(Delivery.error_code == self.code)
        return query


def view_query() -> Select:
    """Ledger rows as `DeliveryView` columns, with the user's phone (None once erased)."""
    return select(
        Delivery.user_id, User.phone, Delivery.timezone, Delivery.send_time,
        Delivery.local_date, Delivery.status, Delivery.message_id, Delivery.error_code,
        Delivery.error, Delivery.attempts, Delivery.updated_at,
    ).outerjoin(User, User.id == Delivery.user_id)  # fmt: skip


def list_deliveries(session: Session, filters: Filters, limit: int = 10_000) -> list[DeliveryView]:
    """Ledger rows matching `filters`, by local date (newest first), slot and user."""
    query = filters.apply(
        view_query()
        .order_by(
            Delivery.local_date.desc(), Delivery.timezone, Delivery.send_time, Delivery.user_id
        )
        .limit(limit)
    )  # fmt: skip
    return [DeliveryView(*row) for row in session.execute(query)]


def retry_failures(
    session: Session, filters: Filters, now: datetime
) -> dict[tuple[str, str, date], int]:
    """Put the failed rows matching `filters` whose users can be sent to back to pending;
    returns how many per (zone, send time, local date), the runs to start.

    Rows of users who left or are unreachable stay failed: reactivate them first.
    """
    failed = Filters(filters.local_date, filters.zone, DeliveryStatus.FAILED.value, filters.code)
    rows = session.execute(
        failed.apply(
            select(Delivery.id, Delivery.timezone, Delivery.send_time, Delivery.local_date)
            .join(User, User.id == Delivery.user_id)
            .where(User.sendable_at(now))
        )
    ).all()
    if not rows:
        return {}
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_([row.id for row in rows]))
        .values(
            status=DeliveryStatus.PENDING.value, claimed_at=None, claimed_by=None, updated_at=now
        )
        .execution_options(synchronize_session=False)
    )
    slots: dict[tuple[str, str, date], int] = {}
    for row in rows:
        key = (row.timezone, row.send_time, row.local_date)
        slots[key] = slots.get(key, 0) + 1
    return slots
