"""`panchang users`: add, update, deactivate, list and import subscribers."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO

import click

from core.console import AppContext, emit_json, emit_table, handle_errors, json_option
from core.errors import PanchangError, ValidationError
from scheduler.slots import Slot

# Below this many rows an import is over before a progress bar would tell anyone anything.
IMPORT_PROGRESS_MIN_ROWS = 1000
USER_TABLE_HEADERS = ("id", "phone", "timezone", "send time", "lat", "lon", "city", "status")


def _after_user_change(obj: AppContext, slots: Iterable[Slot]) -> None:
    """Resync just the affected slots, so a change is scheduled within seconds.

    The database change is already committed; if Redis is unreachable, say so and leave the
    entry to Beat's periodic sync rather than fail a change that did happen.
    """
    wanted = sorted(set(slots))
    if not wanted:
        return
    from scheduler.commands import run_sync

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


@click.group()
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


@users.command("reactivate")
@click.argument("user_id", type=int)
@click.pass_obj
@handle_errors
def users_reactivate(obj: AppContext, user_id: int) -> None:
    """Send to a user again: one who left, or whom WhatsApp could not reach (for example after
    they joined WhatsApp)."""
    from core.clock import now
    from models.db import session_scope
    from subscribers import reactivate_user

    with session_scope(obj.sessions) as session:
        change = reactivate_user(session, now(), user_id)
        phone = change.user.phone
    _after_user_change(obj, change.slots)
    click.echo(f"reactivated user {user_id} {phone}")


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
            (v.id, v.phone, v.timezone, v.send_time, v.latitude, v.longitude, v.city, v.status)
            for v in views
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
