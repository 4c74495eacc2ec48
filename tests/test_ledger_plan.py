"""How PostgreSQL finds a batch's ledger rows: through the (user_id, local_date) unique index,
even on the first batch of a new local date, which the table's statistics never know yet."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from delivery import ledger
from delivery.ledger import _CREATE_AND_CLAIM_PG
from models.db import make_engine, session_factory, session_scope
from tests.helpers import add_users

DAY = date(2026, 3, 14)
AT = datetime(2026, 3, 14, 1, 0, tzinfo=UTC)


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE delivery, send_run, user_detail RESTART IDENTITY CASCADE"))
    yield engine
    engine.dispose()


def plan_of(engine: Engine, statement: str, params: dict[str, object]) -> str:
    """EXPLAIN of a statement in psycopg2's own parameter style."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(f"EXPLAIN (FORMAT JSON) {statement}", params)
        return json.dumps(cursor.fetchone())
    finally:
        raw.close()


def test_a_batch_claims_its_rows_of_a_new_date_through_the_unique_index(pg: Engine) -> None:
    sessions = session_factory(pg)
    ids = add_users(sessions, "Asia/Kolkata", "06:30", 300)
    # A week of history, analyzed: the new date is unknown to the statistics, as it always is
    # when a slot's run starts.
    with session_scope(sessions) as session:
        for back in range(7, 0, -1):
            ledger.ensure_rows(
                session, ids, DAY - timedelta(days=back), "Asia/Kolkata", "06:30", AT
            )
    with pg.connect() as conn:
        conn.execute(text("ANALYZE delivery"))
        conn.commit()
    compiled = _CREATE_AND_CLAIM_PG.compile(dialect=pg.dialect)
    params = compiled.construct_params(
        {"ids": ids[:100], "local_date": DAY, "zone": "Asia/Kolkata", "send_time": "06:30",
         "at": AT, "token": "t", "stale": AT}
    )  # fmt: skip
    plan = plan_of(pg, str(compiled), params)
    assert "user_local_date" in plan and "ix_delivery_local_date" not in plan, plan

    # What the plain UPDATE by user ids and date did: the planner picks the date's index,
    # which reads every row of the date for every batch.
    update = plan_of(
        pg,
        "UPDATE delivery SET claimed_at = %(at)s"
        " WHERE user_id = ANY(%(ids)s) AND local_date = %(d)s",
        {"at": AT, "ids": ids[:100], "d": DAY},
    )
    assert "ix_delivery_local_date" in update, update

    with session_scope(sessions) as session:
        claimed = ledger.create_and_claim(
            session, ids[:100], DAY, "Asia/Kolkata", "06:30", AT, 600, "batch-1"
        )
        again = ledger.create_and_claim(
            session, ids[:150], DAY, "Asia/Kolkata", "06:30", AT, 600, "batch-2"
        )
    assert sorted(claimed) == ids[:100]
    assert sorted(again) == ids[100:150]  # the first 100 are held by batch-1's claim
