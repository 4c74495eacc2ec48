"""`panchang db`: the database schema."""

from __future__ import annotations

import click

from core.console import AppContext, handle_errors


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade", short_help="Apply migrations; says what it applied.")
@click.pass_obj
@handle_errors
def db_upgrade(obj: AppContext) -> None:
    """Apply schema migrations (safe to run again); says what it applied, if anything."""
    from models.db import current_revision, upgrade

    before = current_revision(obj.engine)
    upgrade(obj.engine)
    after = current_revision(obj.engine)
    if after == before:
        click.echo(f"database already at revision {after}; nothing to apply")
    else:
        click.echo(f"database upgraded from revision {before or '(empty)'} to {after}")
