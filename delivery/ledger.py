"""The delivery ledger: one `Delivery` row per (user, local date), claimed before sending.

A row is created `pending`, claimed by one batch attempt (`claimed_at`, `claimed_by` = the
attempt's token, `attempts` + 1) in one conditional UPDATE, and marked `sent` or `failed` the
moment its own send returns, in its own short transaction. The claim is the only guard against
two runs sending to one user, so it is a single statement the database makes atomic: a row is
claimable while it is pending and unclaimed, or its claim is older than the lease (the attempt
that took it died before marking it).

What a death costs: rows claimed and not yet sent wait out the lease and are sent by a later
run; the one row whose send had started and was not yet marked is sent again. The product
leans that way on purpose: a subscriber who gets a second copy of one morning's almanac is
better off than one who silently gets none, and neither WhatsApp nor a file offers a way to
ask "did that request go out?" after the process that made it is gone.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
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
    token: str,
) -> dict[int, int]:
    """Claim the claimable rows of `user_ids` on `local_date` for `token`; {user_id: row id}.

    Claimable: status pending and `claimed_at` null or older than `lease_s` seconds before
    `at`. One UPDATE ... RETURNING: Postgres re-checks the condition after waiting on a row
    another transaction holds, SQLite runs writers one at a time, so a row goes to one attempt.
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
        .values(claimed_at=at, claimed_by=token, attempts=Delivery.attempts + 1)
        .returning(Delivery.user_id, Delivery.id)
        .execution_options(synchronize_session=False)
    )
    return {user_id: delivery_id for user_id, delivery_id in result.all()}


def renew(session: Session, delivery_ids: Collection[int], token: str, at: datetime) -> set[int]:
    """Extend `token`'s claim on those of `delivery_ids` it still holds; returns their ids.

    A row missing from the answer was taken by another attempt after this one's lease ran out:
    this attempt must not send it.
    """
    if not delivery_ids:
        return set()
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.id.in_(list(delivery_ids)),
            Delivery.claimed_by == token,
            Delivery.status == DeliveryStatus.PENDING.value,
        )
        .values(claimed_at=at)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    )
    return set(result.scalars())


def release(session: Session, token: str) -> int:
    """Drop `token`'s claims on rows it did not send, so the next run need not wait the lease.

    Called when a batch stops on an error; returns how many rows were released.
    """
    result = session.execute(
        update(Delivery)
        .where(Delivery.claimed_by == token, Delivery.status == DeliveryStatus.PENDING.value)
        .values(claimed_at=None, claimed_by=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def count_held(session: Session, user_ids: Sequence[int], local_date: date) -> int:
    """How many of `user_ids` on `local_date` are pending under another attempt's live claim.

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


def mark_sent(session: Session, delivery_id: int, at: datetime) -> None:
    """Mark one claimed row sent at `at`."""
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id)
        .values(status=DeliveryStatus.SENT.value, sent_at=at, error=None)
        .execution_options(synchronize_session=False)
    )


def mark_failed(session: Session, delivery_id: int, error: str) -> None:
    """Mark one claimed row failed with `error`; `attempts` was counted at claim.

    A failed row is not claimed again by later runs: the transport has already decided the
    error is not worth retrying for this user today.
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
