"""`panchang health`, the I/O part: look at Redis and the database, each with a short timeout,
and return an `ops.health.Observed` for `evaluate`.

A service that does not answer is recorded as an error string and the checks behind it are
skipped (None), so one probe never hangs on a dead server and never crashes: its job is to say
what is wrong. No Celery import unless `--ping` asks for it.
"""

from __future__ import annotations

import socket
from datetime import UTC
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from core import clock
from core.errors import PanchangError
from core.names import CELERY_QUEUE_KEY, redbeat_lock_key
from core.redis_conn import open_redis
from core.settings import Settings, redact
from ops import heartbeats
from ops.health import Observed

# Each probe of a service gets this long: a healthcheck runs every 10 s and must answer well
# inside its own timeout, and a server that takes seconds to answer a PING is not healthy.
CONNECT_TIMEOUT_S = 2
PING_TIMEOUT_S = 2.0


def observe(
    settings: Settings, role: str | None = None, ping: bool = False, host: str | None = None
) -> Observed:
    """Everything `role` (None: the full check) needs, from the configured Redis and database."""
    host = host or socket.gethostname()
    fields: dict[str, Any] = {"now": clock.now().timestamp(), "host": host, "role": role}
    if role in (None, "worker", "web"):
        fields.update(_database(settings, full=role is None))
    fields.update(_redis(settings, role, host))
    if ping and role in (None, "worker") and fields.get("redis_error") is None:
        fields.update(_ping(settings))
    schema_current = "database_error" not in fields and (
        fields.get("schema_revision") == fields.get("schema_head")
    )
    if role is None and fields.get("redis_error") is None and schema_current:
        fields.update(_entries(settings))
    return Observed(**fields)


# --- Redis ---------------------------------------------------------------------------------


def _redis(settings: Settings, role: str | None, host: str) -> dict[str, Any]:
    if settings.redis_problem or not settings.redis_url:
        try:
            settings.require_redis_url()
        except Exception as err:
            return {"redis_error": str(err)}
    url = settings.redis_url or ""
    client = open_redis(
        url,
        decode_responses=True,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=CONNECT_TIMEOUT_S,
    )
    try:
        client.ping()
        found: dict[str, Any] = {}
        if role in (None, "beat"):
            lock_key = redbeat_lock_key(settings.redbeat_key_prefix)
            found.update(
                lock_checked=True,
                lock_key=lock_key,
                lock_token=client.get(lock_key),
                beat=heartbeats.read_beat(client),
            )
        if role in (None, "worker"):
            found["workers"] = heartbeats.read_workers(client, host if role == "worker" else None)
        if role is None:
            found.update(
                queue_depth=int(client.llen(CELERY_QUEUE_KEY)),
                sync_checked=True,
                sync=heartbeats.read_sync(client),
            )
        return found
    except redis.RedisError as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        return {"redis_error": f"cannot reach Redis at {redact(url)} ({settings.redis_source}): "
                               f"{first}"}  # fmt: skip
    finally:
        client.close()


def _ping(settings: Settings) -> dict[str, Any]:
    """`celery inspect ping` in-process, within PING_TIMEOUT_S: costly (it imports Celery and
    broadcasts over the broker), so only on `--ping`, never for a container healthcheck."""
    try:
        from tasks.app import create_app

        app = create_app(settings)
        replies = app.control.ping(timeout=PING_TIMEOUT_S) or []
        return {"ping_replies": [name for reply in replies for name in reply]}
    except Exception as err:  # any failure of the ping is the answer to report
        return {"ping_error": f"{type(err).__name__}: {err}"}


# --- Database ------------------------------------------------------------------------------


def _engine(database_url: str) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = url.database or ""
        if path and path != ":memory:" and not Path(path).exists():
            # Connecting would create an empty file; a health check must not write.
            raise FileNotFoundError(f"no SQLite database file at {path}")
        connect_args: dict[str, Any] = {"timeout": CONNECT_TIMEOUT_S}
    else:
        connect_args = {
            "connect_timeout": CONNECT_TIMEOUT_S,
            "options": f"-c statement_timeout={CONNECT_TIMEOUT_S * 1000}",
        }
    return create_engine(database_url, poolclass=NullPool, connect_args=connect_args)


def _database(settings: Settings, full: bool) -> dict[str, Any]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from models.db import MIGRATIONS_DIR, current_revision

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    shown = redact(settings.database_url)
    try:
        engine = _engine(settings.database_url)
    except FileNotFoundError as err:
        return {"database_error": f"{err} (DATABASE_URL); run `panchang db upgrade`"}
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        found: dict[str, Any] = {
            "schema_revision": current_revision(engine),
            "schema_head": head,
        }
        if full and found["schema_revision"] == head:
            found.update(_today(engine))
        return found
    except SQLAlchemyError as err:
        orig = getattr(err, "orig", None)
        first = (str(orig if orig is not None else err).strip().splitlines() or ["?"])[0]
        return {"database_error": f"cannot query the database at DATABASE_URL={shown}: {first}"}
    except PanchangError as err:  # `current_revision` explains its own failures
        return {"database_error": str(err)}
    finally:
        engine.dispose()


def _today(engine: Engine) -> dict[str, Any]:
    """Runs started and dead letters recorded since 00:00 UTC (a UTC day: each slot's local
    date differs, and one fixed day boundary is what an operator can compare across hosts)."""
    from models.delivery import Delivery, DeliveryStatus
    from models.send_run import SendRun

    midnight = clock.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with engine.connect() as conn:
        runs = {
            (outcome or "running"): int(count)
            for outcome, count in conn.execute(
                select(SendRun.outcome, func.count())
                .where(SendRun.started_at >= midnight)
                .group_by(SendRun.outcome)
            )
        }
        dead = conn.execute(
            select(func.count()).where(
                Delivery.status == DeliveryStatus.FAILED.value, Delivery.updated_at >= midnight
            )
        ).scalar_one()
    return {"runs_today": runs, "dead_letters_today": int(dead)}


def _entries(settings: Settings) -> dict[str, Any]:
    """Slots of sendable users vs. our entries scheduled in Redis (the full check only: it
    imports the scheduler, and with it Celery)."""
    from redbeat_sync import desired_slots
    from scheduler.store import EntryStore

    engine = _engine(settings.database_url)
    client = open_redis(
        settings.redis_url or "",
        decode_responses=True,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=CONNECT_TIMEOUT_S,
    )
    try:
        with engine.connect() as conn:
            from sqlalchemy.orm import Session

            with Session(bind=conn) as session:
                wanted = desired_slots(session, clock.now()).users
        store = EntryStore(client, settings)
        names = sorted(slot.entry_name(settings.entry_prefix) for slot in wanted)
        stored = store.read(names)
        missing = [n for n in names if n not in stored or not stored[n].scheduled]
        return {
            "entries_wanted": len(names),
            "entries_present": len(store.names()),
            "entries_missing": missing,
        }
    except (SQLAlchemyError, redis.RedisError) as err:
        # Both answered a moment ago; report it as the service that failed now.
        key = "database_error" if isinstance(err, SQLAlchemyError) else "redis_error"
        return {key: f"failed while counting entries: {err}"}
    finally:
        client.close()
        engine.dispose()
