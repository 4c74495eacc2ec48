"""Beat's listener for user changes made by anyone, on PostgreSQL.

Migration 0006 puts a trigger on `user_detail` that sends each touched slot (`zone@HH:MM`) on
the `panchang_user_slots` channel. The active Beat runs this listener in a thread: it gathers
the slots of about a second and asks a worker for a sync of just those, so a row the old web
app wrote is scheduled within seconds. Notifications sent while nobody listened are lost
(PostgreSQL keeps none), so after every (re)connection the listener asks for a full sync too.
The periodic full sync stays as the safety net.
"""

from __future__ import annotations

import logging
import select
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

CHANNEL = "panchang_user_slots"
# Changes within this window go out as one scoped sync: an import of a thousand rows asks once.
GATHER_S = 1.0
RETRY_MAX_S = 30.0


def is_postgres(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "postgresql"


class SlotListener:
    """LISTEN in a daemon thread; `on_slots(names)` for changed slots, `on_gap()` after each
    (re)connection, when changes may have gone unheard."""

    def __init__(
        self,
        database_url: str,
        on_slots: Callable[[list[str]], None],
        on_gap: Callable[[], None],
        gather_s: float = GATHER_S,
    ) -> None:
        # The first connection needs no catch-up: Beat asks for a full sync as it starts.
        self._connected_before = False
        self._dsn = _dsn(database_url)
        self._on_slots = on_slots
        self._on_gap = on_gap
        self._gather_s = gather_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slot-listener", daemon=True)

    def start(self) -> SlotListener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        retry_s = 1.0
        while not self._stop.is_set():
            try:
                self._listen()
                return
            except Exception as err:  # a dropped or refused connection: try again, slower
                log.warning("listener: %s; listening again in %.0f s", err, retry_s)
                self._stop.wait(retry_s)
                retry_s = min(retry_s * 2, RETRY_MAX_S)

    def _listen(self) -> None:
        import psycopg2
        import psycopg2.extensions

        conn = psycopg2.connect(self._dsn, connect_timeout=5)
        try:
            conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
            with conn.cursor() as cursor:
                cursor.execute(f"LISTEN {CHANNEL}")
            log.info("listener: listening on %s", CHANNEL)
            if self._connected_before:
                self._on_gap()
            self._connected_before = True
            while not self._stop.is_set():
                slots = self._gather(conn)
                if slots:
                    self._on_slots(sorted(slots))
        finally:
            conn.close()

    def _gather(self, conn: Any) -> set[str]:
        """Wait up to a second for a notification, then collect for `gather_s` more."""
        if select.select([conn], [], [], 1.0) == ([], [], []):
            conn.poll()  # also notices a connection that went away
            return self._take(conn)
        slots = self._take(conn)
        self._stop.wait(self._gather_s)
        conn.poll()
        return slots | self._take(conn)

    @staticmethod
    def _take(conn: Any) -> set[str]:
        conn.poll()
        slots = {note.payload for note in conn.notifies}
        conn.notifies.clear()
        return slots


def _dsn(database_url: str) -> str:
    from psycopg2.extensions import make_dsn

    url = make_url(database_url)
    parts = {
        "host": url.host, "port": url.port, "dbname": url.database,
        "user": url.username, "password": url.password, **url.query,
    }  # fmt: skip
    return str(make_dsn(**{k: v for k, v in parts.items() if v is not None}))
