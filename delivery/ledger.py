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

from sqlalchemy import (
    Connection,
    Date,
    Integer,
    String,
    Text,
    and_,
    bindparam,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models import Delivery, DeliveryStatus
from models.base import UTCDateTime
from models.delivery import STATUS_RANK

Executor = Session | Connection
"""Where a ledger statement runs: a session's transaction, or a thread's own connection."""


def ensure_rows(
    session: Session,
    user_ids: Sequence[int],
    local_date: date,
    zone: str,
    send_time: str,
    at: datetime,
) -> None:
    """Create a pending row for each of `user_ids` on `local_date` unless it already exists.

    INSERT ... ON CONFLICT (user_id, local_date) DO NOTHING, so two runs racing on the same
    users never fail on the unique constraint. On Postgres the ids travel as one array into a
    fixed statement (one round trip: 2,000 rows in about 20 ms, where psycopg2's executemany,
    which SQLAlchemy uses for an ON CONFLICT insert without RETURNING, took 370 ms, a pause
    the whole fleet felt at every batch start); on SQLite, one cached statement per row.
    """
    if not user_ids:
        return
    if session.get_bind().dialect.name == "postgresql":
        params = {"local_date": local_date, "zone": zone, "send_time": send_time, "at": at}
        # On the session's connection: Core execution, not the ORM's bulk insert.
        session.connection().execute(_ENSURE_ROWS_PG, {**params, "ids": list(user_ids)})
    else:
        rows = [
            {"user_id": u, "local_date": local_date, "timezone": zone, "send_time": send_time,
             "status": DeliveryStatus.PENDING.value, "attempts": 0, "created_at": at}
            for u in user_ids
        ]  # fmt: skip
        session.execute(_ENSURE_ROW_SQLITE, rows)


def _insert_rows_pg(claimed: bool) -> postgresql.Insert:
    """INSERT one pending row per id of the `ids` array parameter, in one statement; with
    `claimed`, already claimed by the `token` parameter (a first attempt)."""
    columns = ["user_id", "local_date", "timezone", "send_time", "status", "attempts",
               "created_at"]  # fmt: skip
    values = [
        func.unnest(bindparam("ids", type_=postgresql.ARRAY(Integer()))),
        bindparam("local_date", type_=Date()), bindparam("zone", type_=String()),
        bindparam("send_time", type_=String()), literal(DeliveryStatus.PENDING.value),
        literal(1 if claimed else 0), bindparam("at", type_=UTCDateTime()),
    ]  # fmt: skip
    if claimed:
        columns += ["claimed_at", "claimed_by"]
        values += [bindparam("at", type_=UTCDateTime()), bindparam("token", type_=String())]
    return postgresql.insert(Delivery).from_select(columns, select(*values))


_ENSURE_ROWS_PG = _insert_rows_pg(claimed=False).on_conflict_do_nothing(
    index_elements=["user_id", "local_date"]
)
_ENSURE_ROW_SQLITE = sqlite.insert(Delivery).on_conflict_do_nothing(
    index_elements=["user_id", "local_date"]
)


def create_and_claim(
    session: Session,
    user_ids: Sequence[int],
    local_date: date,
    zone: str,
    send_time: str,
    at: datetime,
    lease_s: float,
    token: str,
) -> dict[int, int]:
    """`ensure_rows`, then `claim`: what a batch does as it starts; {user_id: row id}.

    On PostgreSQL, one INSERT ... ON CONFLICT DO UPDATE ... WHERE claimable, which finds each
    row through the (user_id, local_date) unique index. A plain UPDATE by user ids and date
    lets the planner choose `ix_delivery_local_date`: the statistics never know the newest date
    yet (its rows are created by the run itself), it estimates one row for it, and reads every
    row of the date for every batch, which grows with the square of a slot's size. The
    conflict arbiter is not the planner's choice. An existing row is claimed under its row
    lock and only if still claimable, so a row goes to one attempt, as with `claim`.
    """
    if not user_ids:
        return {}
    if session.get_bind().dialect.name != "postgresql":
        ensure_rows(session, user_ids, local_date, zone, send_time, at)
        return claim(session, user_ids, local_date, at, lease_s, token)
    params = {
        "ids": list(user_ids), "local_date": local_date, "zone": zone, "send_time": send_time,
        "at": at, "token": token, "stale": at - timedelta(seconds=lease_s),
    }  # fmt: skip
    result = session.connection().execute(_CREATE_AND_CLAIM_PG, params)
    return {user: row for user, row in result.all() if user is not None}


_NEW_ROWS_CLAIMED = _insert_rows_pg(claimed=True)
_CREATE_AND_CLAIM_PG = _NEW_ROWS_CLAIMED.on_conflict_do_update(
    index_elements=["user_id", "local_date"],
    set_={
        "claimed_at": _NEW_ROWS_CLAIMED.excluded.claimed_at,
        "claimed_by": _NEW_ROWS_CLAIMED.excluded.claimed_by,
        "attempts": Delivery.attempts + 1,
    },
    where=and_(
        Delivery.status == DeliveryStatus.PENDING.value,
        or_(
            Delivery.claimed_at.is_(None),
            Delivery.claimed_at < bindparam("stale", type_=UTCDateTime()),
        ),
    ),
).returning(Delivery.user_id, Delivery.id)


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
    # Rows claimed by user id always have one (only erased users' rows have none).
    return {user: row for user, row in result.all() if user is not None}


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


def release(
    session: Session, token: str, local_date: date, after_id: int, upto_id: int | None
) -> int:
    """Drop `token`'s claims on rows it did not send, so the next run need not wait the lease.

    Called when a batch stops early; returns how many rows were released. `claimed_by` has no
    index: the batch's date and user range (`after_id < user_id <= upto_id`) keep the search
    to that date's rows instead of the whole ledger (90 days of every user by default).
    """
    in_batch = [Delivery.local_date == local_date, Delivery.user_id > after_id]
    if upto_id is not None:
        in_batch.append(Delivery.user_id <= upto_id)
    result = session.execute(
        update(Delivery)
        .where(
            *in_batch, Delivery.claimed_by == token, Delivery.status == DeliveryStatus.PENDING.value
        )
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


# The per-message statements, built once: a batch runs one per answer, from each of its
# sending threads, on a connection that thread keeps (see `delivery.batch`).
_MARK_DONE = (
    update(Delivery)
    .where(Delivery.id == bindparam("row"))
    .values(
        status=bindparam("status"), message_id=bindparam("message_id"), sent_at=bindparam("at"),
        updated_at=bindparam("at"), error=None, error_code=None,
    )
)  # fmt: skip
_MARK_FAILED = (
    update(Delivery)
    .where(Delivery.id == bindparam("row"))
    .values(
        status=DeliveryStatus.FAILED.value, error=bindparam("error"),
        error_code=bindparam("code"), updated_at=bindparam("at"),
    )
)  # fmt: skip
_RELEASE_ONE = (
    update(Delivery)
    .where(
        Delivery.id == bindparam("row"),
        Delivery.claimed_by == bindparam("token"),
        Delivery.status == DeliveryStatus.PENDING.value,
    )
    .values(
        claimed_at=None, claimed_by=None, updated_at=bindparam("at"),
        error=func.coalesce(bindparam("error", type_=Text()), Delivery.error),
        error_code=func.coalesce(bindparam("code", type_=Integer()), Delivery.error_code),
    )
)  # fmt: skip


def mark_done(
    db: Executor, delivery_id: int, status: str, message_id: str | None, at: datetime
) -> None:
    """Record one row's send as the transport took it: `sent` (outbox) or `accepted`
    (WhatsApp, with its message id)."""
    db.execute(
        _MARK_DONE, {"row": delivery_id, "status": status, "message_id": message_id, "at": at}
    )


def mark_failed(
    db: Executor, delivery_id: int, error: str, at: datetime, code: int | None = None
) -> None:
    """Mark one claimed row failed (a dead letter) with `error` and the provider's `code`.

    A failed row is not claimed again by later runs; `panchang failures retry` sends it again.
    """
    db.execute(_MARK_FAILED, {"row": delivery_id, "error": error[:2000], "code": code, "at": at})


def release_one(
    db: Executor,
    delivery_id: int,
    token: str,
    at: datetime,
    error: str | None = None,
    code: int | None = None,
) -> None:
    """Give one unsent row back (pending, unclaimed), noting why if `error`: the next run
    sends it."""
    params = {"row": delivery_id, "token": token, "at": at, "error": error, "code": code}
    if error is not None:
        params["error"] = error[:2000]
    db.execute(_RELEASE_ONE, params)


def close_unsent(
    session: Session, zone: str, send_time: str, local_date: date, at: datetime
) -> int:
    """Mark the rows of a slot occurrence still pending after its grace failed (dead letters);
    returns how many. They keep their last error code; the message says why they stopped."""
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.timezone == zone,
            Delivery.send_time == send_time,
            Delivery.local_date == local_date,
            Delivery.status == DeliveryStatus.PENDING.value,
        )
        .values(
            status=DeliveryStatus.FAILED.value,
            error=func.coalesce(Delivery.error + " - ", "") + "not sent within the grace period",
            updated_at=at,
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def apply_status(
    session: Session,
    message_id: str,
    status: DeliveryStatus,
    at: datetime,
    code: int | None = None,
    error: str | None = None,
) -> tuple[int, int | None] | None:
    """Move the row of WhatsApp message `message_id` forward to `status` (a status webhook).

    Only forward (`STATUS_RANK`): a late `delivered` never undoes `read`, and a replay changes
    nothing. Returns (delivery id, user id) when the row moved, None when it did not (unknown
    id, or not forward); the user id is None when the user was erased.
    """
    rank = STATUS_RANK[status]
    behind = [s.value for s, r in STATUS_RANK.items() if r < rank]
    values: dict[str, Any] = {"status": status.value, "updated_at": at}
    if status is DeliveryStatus.FAILED:
        values.update(error=(error or "failed")[:2000], error_code=code)
    moved = session.execute(
        update(Delivery)
        .where(Delivery.message_id == message_id, Delivery.status.in_(behind))
        .values(**values)
        .returning(Delivery.id, Delivery.user_id)
        .execution_options(synchronize_session=False)
    ).first()
    return None if moved is None else (moved[0], moved[1])
