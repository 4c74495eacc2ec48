"""What the benchmarks count: rows PostgreSQL read and commands Redis ran while a block ran."""

from __future__ import annotations

import time

import redis
from sqlalchemy import Engine, text


def rows_read(engine: Engine) -> dict[str, int]:
    """Rows Postgres has read so far, per table: sequential reads plus index entries read.

    A backend reports its counts at most once a second, and an idle one up to 10 s later (so
    `pg_stat_force_next_flush()` on one connection says nothing of the others): the pool's
    connections are closed first, since a backend reports as it exits, so that what one
    measurement did is not counted in the next."""
    engine.dispose()
    time.sleep(1.0)
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        found = conn.execute(
            text(
                "SELECT t.relname, coalesce(t.seq_tup_read, 0)"
                " + coalesce((SELECT sum(i.idx_tup_read) FROM pg_stat_user_indexes i"
                "             WHERE i.relid = t.relid), 0)"
                " FROM pg_stat_user_tables t"
            )
        ).all()
    return {name: int(n) for name, n in found}


def redis_commands(client: redis.Redis) -> int:
    """Commands Redis has run so far, less INFO (which is how this asks)."""
    stats = client.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")


class Meter:
    """Rows read (per table) and Redis commands run while the block runs, and its wall time."""

    def __init__(self, engine: Engine, client: redis.Redis) -> None:
        self.engine, self.client = engine, client
        self.rows: dict[str, int] = {}
        self.commands = 0
        self.wall_s = 0.0

    def __enter__(self) -> Meter:
        self._rows, self._commands = rows_read(self.engine), redis_commands(self.client)
        self._t = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = time.perf_counter() - self._t
        after = rows_read(self.engine)
        self.rows = {
            k: v - self._rows.get(k, 0) for k, v in after.items() if v != self._rows.get(k, 0)
        }
        self.commands = redis_commands(self.client) - self._commands

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())
