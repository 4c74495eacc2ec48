"""The delivery ledger: one `Delivery` row per (user, local date), claimed before sending.

A row is created `pending`, claimed by a run (`claimed_at` set, `attempts` + 1) in one
conditional UPDATE, then marked `sent` or `failed`. The claim is the only guard against two
runs of the same slot sending twice, so it is a single statement the database makes atomic:
a row is claimable while it is pending and unclaimed, or its claim is older than the lease
(the run that took it crashed before marking it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models import Delivery, DeliveryStatus


def ensure_rows(
    session: Session,
    user_ids: Sequence[int],
    local_date: date,
    zone: str,
    send_time: str,
    at: datetime,
) -> None:
    """Create a pending row for each of `user_ids` on `local_date` unless it already exists.

    One INSERT ... ON CONFLICT (user_id, local_date) DO NOTHING for the whole batch, so two
    runs racing on the same users never fail on the unique constraint.
    """
    if not user_ids:
        return
    rows = [
        {
            "user_id": user_id,
            "local_date": local_date,
            "timezone": zone,
            "send_time": send_time,
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "created_at": at,
        }
        for user_id in user_ids
    ]
    insert: Any = _dialect_insert(session)
    session.execute(
        insert(Delivery)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["user_id", "local_date"])
    )


def claim(
    session: Session,
    user_ids: Sequence[int],
    local_date: date,
    at: datetime,
    lease_s: float,
) -> dict[int, int]:
    """Claim the claimable rows of `user_ids` on `local_date`; returns {user_id: delivery_id}.

    Claimable: status pending and `claimed_at` null or older than `lease_s` seconds before
    `at`. One UPDATE ... RETURNING: Postgres re-checks the condition after waiting on a row
    another transaction holds, SQLite runs writers one at a time, so a row goes to one run only.
    """
    if not user_ids:
        return {}
    stale = at - timedelta(seconds=lease_s)
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.user_id.in_(list(user_ids)),
            Delivery.local_date == local_date,
            Delivery.status == DeliveryStatus.PENDING.value,
            or_(Delivery.claimed_at.is_(None), Delivery.claimed_at < stale),
        )
        .values(claimed_at=at, attempts=Delivery.attempts + 1)
        .returning(Delivery.user_id, Delivery.id)
        .execution_options(synchronize_session=False)
    )
    return {user_id: delivery_id for user_id, delivery_id in result.all()}


def count_held(session: Session, user_ids: Sequence[int], local_date: date) -> int:
    """How many of `user_ids` on `local_date` are pending under another run's live claim.

    Called right after claim() in the same transaction: a pending row claim() did not take is
    one whose claim has not yet expired, whether its run is still sending or died mid-batch.
    """
    if not user_ids:
        return 0
    return int(
        session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(
                Delivery.user_id.in_(list(user_ids)),
                Delivery.local_date == local_date,
                Delivery.status == DeliveryStatus.PENDING.value,
            )
        )
        or 0
    )


def mark_sent(session: Session, delivery_ids: Sequence[int], at: datetime) -> None:
    """Mark the claimed rows `delivery_ids` sent at `at` (one UPDATE)."""
    if not delivery_ids:
        return
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(list(delivery_ids)))
        .values(status=DeliveryStatus.SENT.value, sent_at=at, error=None)
        .execution_options(synchronize_session=False)
    )


def mark_failed(session: Session, delivery_id: int, error: str) -> None:
    """Mark the claimed row `delivery_id` failed with `error`; `attempts` was counted at claim.

    A failed row is not claimed again: retrying belongs to the transport, which knows which
    errors are worth it (see DESIGN.md, WhatsApp error codes).
    """
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id)
        .values(status=DeliveryStatus.FAILED.value, error=error[:2000])
        .execution_options(synchronize_session=False)
    )


def _dialect_insert(session: Session) -> Any:
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"the delivery ledger needs SQLite or Postgres, not {name}")
