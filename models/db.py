"""Engines, sessions and schema migrations for SQLite (embedded) and Postgres."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.errors import PanchangError, ServiceUnavailableError
from core.settings import redact

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def make_engine(database_url: str, pool_size: int = 5) -> Engine:
    """An engine for `database_url` keeping up to `pool_size` connections (plus 10 more in a
    rush); creates the folder of a SQLite file if it is missing."""
    kwargs: dict[str, Any] = {"future": True, "pool_size": pool_size, "max_overflow": 10}
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            folder = Path(path).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise ServiceUnavailableError(
                    f"cannot create the folder {folder} for DATABASE_URL={database_url}: "
                    f"{err.strerror or err}"
                ) from err
        # Worker, CLI and Beat-started syncs share the file: wait for locks instead of failing.
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(database_url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # Each sent message is marked in its own commit. In WAL mode NORMAL is still safe against
    # corruption and keeps every commit of a run; it may lose the last ones on a power cut
    # (not a process crash), which the ledger then resends: the same cost as a death mid-send.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def explain(err: SQLAlchemyError, database_url: str) -> PanchangError:
    """One line for a database failure: what went wrong, at which DATABASE_URL, what to do."""
    shown = redact(database_url) or "(unknown)"
    orig = getattr(err, "orig", None)
    text = str(orig if orig is not None else err).strip()
    first = text.splitlines()[0] if text else type(err).__name__
    where = f"DATABASE_URL={shown}"
    lowered = first.lower()
    if (
        "no such table" in lowered
        or "no such column" in lowered
        or ("does not exist" in lowered and ("relation" in lowered or "column" in lowered))
    ):
        return ServiceUnavailableError(
            f"the database at {where} lacks the current schema ({first}); run `panchang db upgrade`"
        )
    if "database" in lowered and "does not exist" in lowered:
        return ServiceUnavailableError(
            f"cannot connect to the database at {where}: {first}; create it "
            f"({_createdb_hint(database_url)}) and run `panchang db upgrade`"
        )
    if "password authentication failed" in lowered or (
        "role" in lowered and "does not exist" in lowered
    ):
        return ServiceUnavailableError(
            f"cannot connect to the database at {where}: {first}; check the user and password "
            "in DATABASE_URL"
        )
    if "unable to open database file" in lowered:
        return ServiceUnavailableError(
            f"cannot open the database at {where}: {first}; check that its folder exists and "
            "is writable"
        )
    if any(
        words in lowered
        for words in (
            "connection refused",
            "could not connect",
            "could not translate host",
            "timeout expired",
            "server closed the connection",
        )
    ):
        return ServiceUnavailableError(
            f"cannot connect to the database at {where}: {first}; is the server running at "
            "that address?"
        )
    return ServiceUnavailableError(f"database error at {where}: {first}")


def _createdb_hint(database_url: str) -> str:
    try:
        url = make_url(database_url)
    except ArgumentError:
        return "createdb <name>"
    parts = ["createdb"]
    if url.host:
        parts += ["-h", url.host]
    if url.port:
        parts += ["-p", str(url.port)]
    if url.username:
        parts += ["-U", url.username]
    parts.append(url.database or "<name>")
    return " ".join(parts)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to `revision` (idempotent)."""
    try:
        command.upgrade(alembic_config(engine), revision)
    except SQLAlchemyError as err:
        raise explain(err, engine.url.render_as_string(hide_password=False)) from err


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as err:
        raise explain(err, engine.url.render_as_string(hide_password=False)) from err
