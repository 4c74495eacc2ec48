"""Writing a batch's successful sends to the ledger in small groups.

Every accepted message must be marked before a rerun could send it again. Marking each one
in its own statement costs a database round trip per message, the largest share of a
worker's CPU after the HTTP request itself at 1,000 messages/s. So a batch hands its
successes to a `MarkWriter`, which writes whatever has arrived, at most `max_rows` and at
least every `interval_s`, as one statement. What a death can then send
twice: the requests in flight, plus the answers of the last `interval_s` not yet written. A
sending thread has at most one of each while a group is written faster than a round trip to
Meta, so at most twice the batch's concurrency.
Failures and releases are not grouped: they are rare, and written at once by the batch.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, update

from models import Delivery

INTERVAL_S = 0.01
MAX_ROWS = 64

_MARK_ROW = (
    update(Delivery)
    .where(Delivery.id == bindparam("row"))
    .values(
        status=bindparam("status"), message_id=bindparam("mid"), sent_at=bindparam("at"),
        updated_at=bindparam("at"), error=None, error_code=None,
    )
)  # fmt: skip


class MarkWriter:
    """A background thread writing `add`ed marks in groups; `close` writes the rest."""

    def __init__(
        self, engine: Engine, interval_s: float = INTERVAL_S, max_rows: int = MAX_ROWS
    ) -> None:
        self._engine = engine
        self._interval_s = interval_s
        self._max_rows = max_rows
        self._rows: list[dict[str, Any]] = []
        self._ready = threading.Condition()
        self._closed = False
        self._error: BaseException | None = None
        self.written = 0
        self._thread = threading.Thread(target=self._run, name="marks", daemon=True)
        self._thread.start()

    def add(self, delivery_id: int, status: str, message_id: str | None, at: datetime) -> None:
        """Queue one row's mark (`sent` or `accepted`, with WhatsApp's message id)."""
        with self._ready:
            if self._error is not None:
                raise self._error
            self._rows.append({"row": delivery_id, "status": status, "mid": message_id, "at": at})
            if len(self._rows) >= self._max_rows:
                self._ready.notify()

    def close(self) -> None:
        """Write what is queued and stop; raises the error that stopped a write, if any."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        with self._engine.connect() as conn:
            while True:
                with self._ready:
                    if not self._rows and not self._closed:
                        self._ready.wait(self._interval_s)
                    rows, self._rows = self._rows, []
                    closing = self._closed
                if rows:
                    try:
                        _write(conn, rows)
                        conn.commit()
                    except BaseException as err:
                        with self._ready:
                            self._error = err
                        return
                    self.written += len(rows)
                if closing and not rows:
                    return


# Postgres: the whole group as four arrays into one fixed statement, so it is neither built
# nor compiled per group and travels in one round trip.
_MARK_GROUP_PG = (
    "UPDATE delivery SET status = m.status, message_id = m.mid, sent_at = m.at,"
    " updated_at = m.at, error = NULL, error_code = NULL"
    " FROM unnest(%(rows)s::integer[], %(statuses)s::varchar[], %(mids)s::varchar[],"
    " %(ats)s::timestamptz[]) AS m(id, status, mid, at)"
    " WHERE delivery.id = m.id"
)


def _write(conn: Any, rows: list[dict[str, Any]]) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            _MARK_GROUP_PG,
            {
                "rows": [r["row"] for r in rows],
                "statuses": [r["status"] for r in rows],
                "mids": [r["mid"] for r in rows],
                "ats": [r["at"] for r in rows],
            },
        )
    else:
        # SQLite: one statement per row, in the group's one transaction.
        conn.execute(_MARK_ROW, rows)
