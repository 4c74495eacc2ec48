"""`panchang users`: add, update, deactivate, list and import subscribers."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import click

from core.console import AppContext, emit_json, emit_table, handle_errors, json_option
from core.errors import PanchangError, ValidationError
from scheduler.slots import Slot

# Below this many rows an import is over before a progress bar would tell anyone anything.
IMPORT_PROGRESS_MIN_ROWS = 1000
USER_TABLE_HEADERS = (
    "id", "phone", "timezone", "send time", "lat", "lon", "city", "lang", "status",
)  # fmt: skip
REGION_HELP = "Country of numbers written without +<country code>, e.g. IN."


def _warn(warnings: Iterable[str]) -> None:
    for warning in warnings:
        click.echo(f"Warning: {warning}", err=True)


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


def _change_one(
    obj: AppContext, verb: str, user_id: int, change: Callable[[Any, datetime, int], Any]
) -> None:
    """Apply `change(session, now, user_id)` in one transaction, resync the user's slots, and
    say what was done."""
    from core.clock import now
    from models.db import session_scope

    with session_scope(obj.sessions) as session:
        done = change(session, now(), user_id)
        phone = done.user.phone
    _after_user_change(obj, done.slots)
    click.echo(f"{verb} user {user_id} {phone}")


@click.group()
def users() -> None:
    """Subscribers: add, update, deactivate, reactivate, show, delete, list and import from CSV."""


@users.command("add")
@click.option("--phone", required=True, help="Phone number, e.g. +919876543210 or +91 98765 43210.")
@click.option("--region", help=REGION_HELP)
@click.option("--lat", "latitude", required=True, help="Latitude in degrees, north positive.")
@click.option("--lon", "longitude", required=True, help="Longitude in degrees, east positive.")
@click.option("--tz", "timezone", help="IANA time zone [default: the zone at --lat/--lon].")
@click.option("--city", help="City name; found or created in the user's zone.")
@click.option("--send-time", help="Local send time HH:MM [default: PANCHANG_DEFAULT_SEND_TIME].")
@click.option("--lang", "language", help="Message language: en (default) or hi.")
@json_option
@click.pass_obj
@handle_errors
def users_add(
    obj: AppContext,
    phone: str,
    region: str | None,
    latitude: str,
    longitude: str,
    timezone: str | None,
    city: str | None,
    send_time: str | None,
    language: str | None,
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
            language=language,
            region=region,
        )
        view = view_of(change.user, at)
    _warn(change.warnings)
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
@click.option("--lang", "language", help="New message language: en or hi.")
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
    language: str | None,
    as_json: bool,
) -> None:
    """Change a user's zone, send time, position, city or language."""
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
            language=language,
        )
        view = view_of(change.user, at)
    _warn(change.warnings)
    _after_user_change(obj, change.slots)
    if as_json:
        emit_json(view.as_dict())
    else:
        click.echo(f"updated {view.describe()}")


@users.command("deactivate", short_help="Stop sending to a user (kept, reversible).")
@click.argument("user_id", type=int)
@click.pass_obj
@handle_errors
def users_deactivate(obj: AppContext, user_id: int) -> None:
    """Stop sending to a user (the row is kept; deactivating twice is an error)."""
    from subscribers import deactivate_user

    _change_one(obj, "deactivated", user_id, deactivate_user)


@users.command("reactivate", short_help="Send to a user again.")
@click.argument("user_id", type=int)
@click.pass_obj
@handle_errors
def users_reactivate(obj: AppContext, user_id: int) -> None:
    """Send to a user again: one who left, or whom WhatsApp could not reach (for example after
    they joined WhatsApp)."""
    from subscribers import reactivate_user

    _change_one(obj, "reactivated", user_id, reactivate_user)


@users.command("show")
@click.argument("user_id", type=int)
@json_option
@click.pass_obj
@handle_errors
def users_show(obj: AppContext, user_id: int, as_json: bool) -> None:
    """Everything about one user, with their latest messages."""
    from core.clock import now
    from subscribers.listing import user_details
    from subscribers.registry import get_user

    with obj.sessions() as session:
        details = user_details(session, get_user(session, user_id), now())
    if as_json:
        emit_json(details)
        return
    recent = details.pop("recent_deliveries")
    width = max(len(key) for key in details)
    for key, value in details.items():
        click.echo(f"{key:<{width}}  {'-' if value is None else value}")
    click.echo("")
    emit_table(
        ("local date", "status", "code", "message id"),
        [(r["local_date"], r["status"], r["error_code"] or "-", r["message_id"] or "-")
         for r in recent],
    )  # fmt: skip


@users.command("delete", short_help="Erase a user for good (their request).")
@click.argument("user_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
@handle_errors
def users_delete(obj: AppContext, user_id: int, yes: bool) -> None:
    """Erase a user for good (a request to be forgotten): their row and the messages they sent
    us. Past days' ledger rows stay, without anything that names them, so counts stay true.
    To stop sending but keep the user, use `deactivate`."""
    from subscribers import delete_user

    if not yes:
        click.confirm(f"Erase user {user_id} and everything that names them?", abort=True)
    _change_one(obj, "deleted", user_id, lambda session, _now, uid: delete_user(session, uid))


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
            (
                v.id,
                v.phone,
                v.timezone,
                v.send_time,
                v.latitude,
                v.longitude,
                v.city,
                v.language,
                v.status,
            )
            for v in views
        ],
    )


@users.command("import")
@click.argument("csv_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--on-existing",
    type=click.Choice(["skip", "update"]),
    default="skip",
    show_default=True,
    help="What to do with a row whose phone is already registered.",
)
@click.option("--region", help=REGION_HELP)
@json_option
@click.pass_obj
@handle_errors
def users_import(
    obj: AppContext, csv_file: Path, on_existing: str, region: str | None, as_json: bool
) -> None:
    """Import users from CSV. The header names the columns, in any order: phone, latitude,
    longitude (required), timezone (default: the zone at the coordinates), city, send_time,
    language.

    Good rows are added; a row of a user already there is skipped (or updated with
    `--on-existing update`, from the cells it fills); each bad row is reported on stderr as
    `line N: reason` and the exit status is 1. A bad header or an unreadable file writes
    nothing (exit 2). The same file can be imported again.
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
            report = import_csv(
                session,
                obj.settings,
                now(),
                lines,
                on_existing="update" if on_existing == "update" else "skip",
                region=region,
                on_progress=bar.update,
            )
        except UnicodeDecodeError as err:
            raise ValidationError(
                "CSV file", str(csv_file), f"not UTF-8 text (bad byte at offset {err.start})"
            ) from err
    _after_user_change(obj, report.slots)
    for label, items in (("", report.rejected), ("skipped: ", report.skipped),
                         ("warning: ", report.warnings)):  # fmt: skip
        for line, reason in items:
            click.echo(f"line {line}: {label}{reason}", err=True)
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(
            f"added {report.added}, updated {report.updated}, skipped {len(report.skipped)}, "
            f"rejected {len(report.rejected)}"
        )
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
