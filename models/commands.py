"""`panchang db`: the database schema."""

from __future__ import annotations

import click

from core.console import AppContext, handle_errors


@click.group()
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
