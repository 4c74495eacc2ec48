"""The `panchang` command line: a thin layer that parses input, calls one function, prints.

Every listing takes `--json` for scripts; errors are one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, TypeVar

import click
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.errors import PanchangError, ValidationError
from core.settings import Settings
from panchangam.command import panchangam_command
from scheduler.slots import Slot

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class AppContext:
    """What every command gets: settings, and a database opened on first use."""

    settings: Settings
    # True when REDIS_URL or --redis-url named a server; `panchang run` then starts none.
    redis_explicit: bool = False
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
    ctx.obj = AppContext(settings, redis_explicit=bool(redis_url))


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


# Below this many rows an import is over before a progress bar would tell anyone anything.
IMPORT_PROGRESS_MIN_ROWS = 1000
USER_TABLE_HEADERS = ("id", "phone", "timezone", "send time", "lat", "lon", "city", "active")


def _after_user_change(obj: AppContext, slots: Iterable[Slot]) -> None:
    """Resync just the affected slots, so a change is scheduled within seconds.

    The database change is already committed; if Redis is unreachable, say so and leave the
    entry to Beat's periodic sync rather than fail a change that did happen.
    """
    wanted = sorted(set(slots))
    if not wanted:
        return
    try:
        report = run_sync(obj, only=wanted)
    except PanchangError as err:
        click.echo(
            f"Warning: saved, but the schedule was not updated now ({err}); "
            "the periodic sync will pick it up.",
            err=True,
        )
        return
    for verb, names in (("created", report.created), ("deleted", report.deleted)):
        for name in names:
            click.echo(f"schedule: {verb} {name}", err=True)


@main.group()
def users() -> None:
    """Subscribers: add, update, deactivate, list and import from CSV."""


@users.command("add")
@click.option("--phone", required=True, help="E.164 number, e.g. +919876543210.")
@click.option("--tz", "timezone", required=True, help="IANA time zone, e.g. Asia/Kolkata.")
@click.option("--lat", "latitude", required=True, help="Latitude in degrees, north positive.")
@click.option("--lon", "longitude", required=True, help="Longitude in degrees, east positive.")
@click.option("--city", help="City name; found or created in the user's zone.")
@click.option("--send-time", help="Local send time HH:MM [default: PANCHANG_DEFAULT_SEND_TIME].")
@json_option
@click.pass_obj
@handle_errors
def users_add(
    obj: AppContext,
    phone: str,
    timezone: str,
    latitude: str,
    longitude: str,
    city: str | None,
    send_time: str | None,
    as_json: bool,
) -> None:
    """Subscribe a new user."""
    from core.clock import now
    from models.db import session_scope
    from subscribers import add_user, view_of

    at = now()
    with session_scope(obj.sessions) as session:
        change = add_user(
            session,
            obj.settings,
            at,
            phone=phone,
            timezone=timezone,
            latitude=latitude,
            longitude=longitude,
            city=city,
            send_time=send_time,
        )
        view = view_of(change.user, at)
    _after_user_change(obj, change.slots)
    if as_json:
        emit_json(view.as_dict())
    else:
        click.echo(f"added {view.describe()}")


@users.command("update")
@click.argument("user_id", type=int)
@click.option("--tz", "timezone", help="New IANA time zone.")
@click.option("--send-time", help="New local send time HH:MM.")
@click.option("--lat", "latitude", help="New latitude in degrees, north positive.")
@click.option("--lon", "longitude", help="New longitude in degrees, east positive.")
@click.option("--city", help='New city name in the user\'s zone; "" removes the city.')
@json_option
@click.pass_obj
@handle_errors
def users_update(
    obj: AppContext,
    user_id: int,
    timezone: str | None,
    send_time: str | None,
    latitude: str | None,
    longitude: str | None,
    city: str | None,
    as_json: bool,
) -> None:
    """Change a user's zone, send time, position or city."""
    from core.clock import now
    from models.db import session_scope
    from subscribers import update_user, view_of

    at = now()
    with session_scope(obj.sessions) as session:
        change = update_user(
            session,
            at,
            user_id,
            timezone=timezone,
            send_time=send_time,
            latitude=latitude,
            longitude=longitude,
            city=city,
        )
        view = view_of(change.user, at)
    _after_user_change(obj, change.slots)
    if as_json:
        emit_json(view.as_dict())
    else:
        click.echo(f"updated {view.describe()}")


@users.command("deactivate")
@click.argument("user_id", type=int)
@click.pass_obj
@handle_errors
def users_deactivate(obj: AppContext, user_id: int) -> None:
    """Stop sending to a user (the row is kept; deactivating twice is an error)."""
    from core.clock import now
    from models.db import session_scope
    from subscribers import deactivate_user

    with session_scope(obj.sessions) as session:
        change = deactivate_user(session, now(), user_id)
        phone = change.user.phone
    _after_user_change(obj, change.slots)
    click.echo(f"deactivated user {user_id} {phone}")


@users.command("list")
@click.option("--tz", "zone", help="Only users in this IANA time zone.")
@json_option
@click.pass_obj
@handle_errors
def users_list(obj: AppContext, zone: str | None, as_json: bool) -> None:
    """List users, active and inactive, in id order."""
    from core.clock import now
    from models.db import session_scope
    from subscribers import list_users

    with session_scope(obj.sessions) as session:
        views = list_users(session, now(), zone)
    if as_json:
        emit_json([view.as_dict() for view in views])
        return
    emit_table(
        USER_TABLE_HEADERS,
        [
            (v.id, v.phone, v.timezone, v.send_time, v.latitude, v.longitude, v.city, active)
            for v in views
            for active in ["yes" if v.active else "no"]
        ],
    )


@users.command("import")
@click.argument("csv_file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@click.pass_obj
@handle_errors
def users_import(obj: AppContext, csv_file: Path, as_json: bool) -> None:
    """Import users from CSV with the header phone,timezone,latitude,longitude,city,send_time.

    Good rows are inserted; each bad row is reported on stderr as `line N: reason` and the
    exit status is 1. A bad header or an unreadable file writes nothing (exit 2).
    """
    from core.clock import now
    from models.db import session_scope
    from subscribers import import_csv

    rows = _csv_data_rows(csv_file)
    show_bar = rows > IMPORT_PROGRESS_MIN_ROWS and sys.stderr.isatty()
    with (
        _open_csv(csv_file) as lines,
        click.progressbar(
            length=rows, label="importing", file=sys.stderr, hidden=not show_bar
        ) as bar,
        session_scope(obj.sessions) as session,
    ):
        try:
            report = import_csv(session, obj.settings, now(), lines, on_progress=bar.update)
        except UnicodeDecodeError as err:
            raise ValidationError(
                "CSV file", str(csv_file), f"not UTF-8 text (bad byte at offset {err.start})"
            ) from err
    _after_user_change(obj, report.slots)
    for line, reason in report.rejected:
        click.echo(f"line {line}: {reason}", err=True)
    if as_json:
        emit_json(
            {
                "inserted": report.inserted,
                "rejected": [{"line": line, "reason": reason} for line, reason in report.rejected],
                "slots": [slot._asdict() for slot in sorted(report.slots)],
            }
        )
    else:
        click.echo(f"imported {report.inserted} users, rejected {len(report.rejected)} rows")
    if report.rejected:
        sys.exit(1)


def _open_csv(path: Path) -> IO[str]:
    # utf-8-sig: spreadsheets often save a byte-order mark that would spoil the header.
    try:
        return path.open(newline="", encoding="utf-8-sig")
    except OSError as err:
        raise ValidationError("CSV file", str(path), err.strerror or str(err)) from err


def _csv_data_rows(path: Path) -> int:
    """Rows after the header, counted as raw lines: it only sizes the progress bar."""
    try:
        with path.open("rb") as raw:
            return max(sum(1 for _ in raw) - 1, 0)
    except OSError as err:
        raise ValidationError("CSV file", str(path), err.strerror or str(err)) from err


# --- sync and entries -----------------------------------------------------------------------


def run_sync(obj: AppContext, *, only: Iterable[Slot] | None = None, dry_run: bool = False) -> Any:
    import redbeat_sync
    from scheduler.store import connect

    client = connect(obj.settings.require_redis_url())
    return redbeat_sync.sync(obj.sessions, client, obj.settings, only=only, dry_run=dry_run)


@main.command()
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@json_option
@click.pass_obj
@handle_errors
def resync(obj: AppContext, dry_run: bool, as_json: bool) -> None:
    """Reconcile RedBeat entries with the active users now."""
    report = run_sync(obj, dry_run=dry_run)
    if as_json:
        emit_json(report.to_dict())
        return
    prefix = "would be " if dry_run else ""
    for verb, names in (
        ("created", report.created),
        ("updated", report.updated),
        ("deleted", report.deleted),
    ):
        for name in names:
            click.echo(f"{prefix}{verb}: {name}")
    click.echo(
        f"{len(report.created)} {prefix}created, {len(report.updated)} {prefix}updated, "
        f"{len(report.deleted)} {prefix}deleted, {report.unchanged} unchanged "
        f"in {report.duration_ms:.0f} ms"
    )
    for value, count in sorted(report.skipped_users.items()):
        click.echo(f"skipped {count} user(s) with invalid zone or time {value!r}", err=True)


@main.command()
@click.option(
    "--now",
    "now_text",
    metavar="ISO8601",
    help="Compute next runs from this instant (with offset, e.g. 2026-03-08T06:00:00+00:00).",
)
@json_option
@click.pass_obj
@handle_errors
def entries(obj: AppContext, now_text: str | None, as_json: bool) -> None:
    """List our RedBeat entries with their users and next run, local and UTC."""
    from core import clock
    from redbeat_sync import desired_slots
    from scheduler.entries import list_entries
    from scheduler.store import connect

    now = _parse_instant(now_text) if now_text else clock.now()
    client = connect(obj.settings.require_redis_url())
    with obj.sessions() as session:
        users = desired_slots(session, now).users
    rows = list_entries(client, obj.settings, users, now)
    if as_json:
        emit_json([row.to_dict() for row in rows])
        return
    emit_table(
        ("name", "users", "next run (local)", "next run (UTC)", "last run"),
        [
            (
                r.name,
                r.users,
                r.next_run_local.isoformat() if r.next_run_local else "-",
                r.next_run_utc.isoformat() if r.next_run_utc else "-",
                r.last_run_at.isoformat() if r.last_run_at else "never",
            )
            for r in rows
        ],
    )
    broken = [r for r in rows if r.problem]
    for row in broken:
        click.echo(f"warning: {row.name}: {row.problem}", err=True)
    if broken:
        click.echo(
            f"{len(broken)} entr{'y' if len(broken) == 1 else 'ies'} cannot run as a zoned slot; "
            "`panchang resync` rewrites or deletes them",
            err=True,
        )


def _parse_instant(text: str) -> Any:
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError("--now", text, "not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise ValidationError("--now", text, "needs a UTC offset, e.g. +00:00 or Z")
    return moment


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
    if summary.held:
        click.echo(
            f"{summary.held} of the skipped are claimed by another run that has not finished; "
            f"if it died, run this again after {obj.settings.claim_lease_s} s to send them",
            err=True,
        )


# --- panchangam -----------------------------------------------------------------------------


main.add_command(panchangam_command)

# --- run ------------------------------------------------------------------------------------


@main.command()
@click.option("--demo", is_flag=True, help="Add demo users in several zones, due next minute.")
@click.option("--concurrency", default=2, show_default=True, help="Worker processes.")
@click.pass_obj
@handle_errors
def run(obj: AppContext, demo: bool, concurrency: int) -> None:
    """Run everything: migrations, a sync, then Beat and a worker until Ctrl-C.

    Without REDIS_URL it starts a private Redis (stopped on exit) and records its URL in
    ./.panchang/redis.url so other `panchang` commands here find it.
    """
    from core import clock
    from core.settings import RUNTIME_REDIS_FILE, STATE_DIR
    from embedded import redis_server, supervisor
    from models.db import upgrade

    settings = obj.settings
    private = None
    if not obj.redis_explicit:
        private = redis_server.start(STATE_DIR / "redis")
        RUNTIME_REDIS_FILE.write_text(private.url + "\n")
        settings = settings.with_redis(private.url)
        click.echo(f"started a private Redis at {private.url}")
    obj.settings = settings
    try:
        upgrade(obj.engine)
        if demo:
            from embedded.demo import add_demo_users

            with obj.sessions() as session:
                for phone, city, slot in add_demo_users(session, clock.now()):
                    click.echo(f"demo user {phone} in {city}: {slot.send_time} {slot.zone}")
        report = run_sync(obj)
        click.echo(
            f"sync: {len(report.created)} created, {len(report.updated)} updated, "
            f"{len(report.deleted)} deleted, {report.unchanged} unchanged"
        )
        click.echo(f"outbox: {settings.outbox_path}  (Ctrl-C to stop)")
        code = supervisor.run(settings, click.echo, concurrency)
    finally:
        if private is not None:
            RUNTIME_REDIS_FILE.unlink(missing_ok=True)
            private.stop()
    sys.exit(code)


if __name__ == "__main__":
    main()
