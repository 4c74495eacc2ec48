"""`panchang resync` and `panchang entries`: reconcile the schedule, and show it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import click

from core.console import (
    AppContext,
    emit_json,
    emit_table,
    handle_errors,
    json_option,
    parse_instant,
)
from scheduler.slots import Slot


def run_sync(
    obj: AppContext,
    *,
    only: Iterable[Slot] | None = None,
    dry_run: bool = False,
    force: bool = False,
) -> Any:
    """One sync with the command's settings (see `redbeat_sync.sync`)."""
    import redbeat_sync

    settings = obj.settings
    client = obj.redis()
    return redbeat_sync.sync(
        obj.sessions, client, settings, only=only, dry_run=dry_run, force=force
    )


@click.command()
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option(
    "--force",
    is_flag=True,
    help="Delete even when that is more than half of 10 or more entries (a sync refuses "
    "that by default: it is more often the wrong database than everyone leaving).",
)
@json_option
@click.pass_obj
@handle_errors
def resync(obj: AppContext, dry_run: bool, force: bool, as_json: bool) -> None:
    """Reconcile RedBeat entries with the active users now."""
    report = run_sync(obj, dry_run=dry_run, force=force)
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


@click.command()
@click.option(
    "--now",
    "now_text",
    metavar="ISO8601",
    help="Compute next runs from this instant (with offset, e.g. 2026-03-08T06:00:00+00:00).",
)
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="Also list the static entries (sync, reconcile, cleanup, daily report...).",
)
@json_option
@click.pass_obj
@handle_errors
def entries(obj: AppContext, now_text: str | None, show_all: bool, as_json: bool) -> None:
    """List the schedule: every entry, and every slot with users but no entry.

    Status: ok, unused (no active user; the next sync deletes it), broken (cannot run as a
    zoned slot; Beat skips it and the next sync rewrites it), missing (users but no entry).
    With --all, the static entries first (each with its UTC schedule, next and last run;
    status ok, pending until a Beat stores it, or stale until a Beat removes it).
    """
    from core import clock
    from redbeat_sync import desired_slots
    from scheduler.entries import list_entries

    now = parse_instant(now_text, "--now") if now_text else clock.now()
    client = obj.redis()
    with obj.sessions() as session:
        users = desired_slots(session, now).users
    rows = list_entries(client, obj.settings, users, now)
    statics = _statics(obj, client) if show_all else []
    if as_json:
        if show_all:
            emit_json(
                [s.to_dict() for s in statics] + [{"kind": "slot", **r.to_dict()} for r in rows]
            )
        else:
            emit_json([row.to_dict() for row in rows])
        return
    if show_all:
        emit_table(
            ("static", "task", "schedule", "status", "next run (UTC)", "last run"),
            [
                (
                    s.name, s.task or "-", s.schedule, s.status,
                    s.next_run_utc.isoformat() if s.next_run_utc else "-",
                    s.last_run_at.isoformat() if s.last_run_at else "never",
                )
                for s in statics
            ],
        )  # fmt: skip
        click.echo()
    emit_table(
        ("name", "status", "users", "next run (local)", "next run (UTC)", "last run"),
        [
            (
                r.name,
                r.status,
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
    missing = sum(1 for r in rows if r.status == "missing")
    if broken:
        click.echo(
            f"{len(broken)} entr{'y' if len(broken) == 1 else 'ies'} cannot run as a zoned slot; "
            "`panchang resync` rewrites or deletes them",
            err=True,
        )
    if missing:
        click.echo(
            f"{missing} slot{'' if missing == 1 else 's'} with active users have no entry; "
            "`panchang resync` creates them",
            err=True,
        )


def _statics(obj: AppContext, client: Any) -> list[Any]:
    """The static entries of the app these settings build, as Redis holds them."""
    from scheduler.entries import list_statics
    from tasks.app import create_app

    configured = create_app(obj.settings).conf.beat_schedule
    return list_statics(client, obj.settings, configured)
