"""The `panchang` command line: a thin layer that parses input, calls one function, prints.

Every listing takes `--json` for scripts; errors are one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import click
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.errors import PanchangError
from core.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class AppContext:
    """What every command gets: settings, and a database opened on first use."""

    settings: Settings
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from models.db import make_engine

            self._engine = make_engine(self.settings.database_url)
        return self._engine

    @property
    def sessions(self) -> sessionmaker[Session]:
        from models.db import session_factory

        return session_factory(self.engine)


def handle_errors(func: F) -> F:
    """Turn our exceptions into one clear line on stderr and their exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PanchangError as err:
            click.echo(f"Error: {err}", err=True)
            sys.exit(err.exit_code)

    return wrapper  # type: ignore[return-value]


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def emit_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain aligned table for people; scripts use --json."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            click.echo("  ".join("-" * w for w in widths))


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


@click.group()
@click.option(
    "--database-url",
    envvar="DATABASE_URL",
    help="SQLAlchemy URL of the user database [env DATABASE_URL; default SQLite in ./.panchang/].",
)
@click.option(
    "--redis-url",
    envvar="REDIS_URL",
    help="Redis for the broker and RedBeat [env REDIS_URL; default: the `panchang run` Redis].",
)
@click.pass_context
@handle_errors
def main(ctx: click.Context, database_url: str | None, redis_url: str | None) -> None:
    """Schedule and send the daily panchangam at each subscriber's local time."""
    settings = Settings.from_env()
    if database_url:
        settings = replace(settings, database_url=database_url)
    if redis_url:
        settings = settings.with_redis(redis_url)
    ctx.obj = AppContext(settings)


# --- db -------------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_obj
@handle_errors
def db_upgrade(obj: AppContext) -> None:
    """Apply schema migrations (safe to run again)."""
    from models.db import current_revision, upgrade

    upgrade(obj.engine)
    click.echo(f"database at revision {current_revision(obj.engine)}")


# --- users ----------------------------------------------------------------------------------

# --- sync and entries -----------------------------------------------------------------------

# --- sending --------------------------------------------------------------------------------


@main.command("send-now")
@click.argument("zone")
@click.option(
    "--send-time",
    default=None,
    help="The slot's local send time HH:MM [default: PANCHANG_DEFAULT_SEND_TIME, 06:30].",
)
@json_option
@click.pass_obj
@handle_errors
def send_now(obj: AppContext, zone: str, send_time: str | None, as_json: bool) -> None:
    """Send today's message now to the active users of ZONE's slot, into the outbox.

    "Today" is the current date in ZONE, whatever the hour: a manual send is never "missed".
    Users who already got today's message get nothing (the same ledger as the scheduled run).
    """
    from core import clock, validate
    from delivery.local_day import local_today
    from delivery.slot_run import run_slot
    from transport.outbox import OutboxTransport

    # Validate before touching the database or the outbox, so bad input writes nothing.
    zone = validate.zone(zone, "zone")
    send_time = validate.send_time(send_time or obj.settings.default_send_time, "--send-time")
    now = clock.now()
    transport = OutboxTransport(obj.settings.outbox_path)
    summary = run_slot(
        obj.sessions,
        transport,
        obj.settings,
        zone,
        send_time,
        now,
        local_date=local_today(zone, now),
    )
    if as_json:
        emit_json(summary.to_dict())
        return
    click.echo(
        f"{zone}@{send_time} for {summary.local_date.isoformat()}: {summary.outcome.value}, "
        f"{summary.sent} sent, {summary.skipped} skipped, {summary.failed} failed "
        f"(outbox {obj.settings.outbox_path})"
    )


# --- run ------------------------------------------------------------------------------------


if __name__ == "__main__":
    main()
