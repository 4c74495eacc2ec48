"""The `panchang` command line: a thin registry of the command groups, each beside its domain.

Every listing takes `--json` for scripts; errors are one line on stderr and a non-zero exit
(see `core.console`).
"""

from __future__ import annotations

import click

from core.console import AppContext
from delivery.commands import deliveries_command, failures, runs_command, send_now
from embedded.commands import run
from models.commands import db
from panchangam.command import panchangam_command
from scheduler.commands import entries, resync
from subscribers.commands import users
from web.commands import web
from whatsapp.commands import template


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
def main(ctx: click.Context, database_url: str | None, redis_url: str | None) -> None:
    """Schedule and send the daily panchangam at each subscriber's local time."""
    overrides = {}
    if database_url:
        overrides["DATABASE_URL"] = database_url
    if redis_url:
        overrides["REDIS_URL"] = redis_url
    ctx.obj = AppContext(overrides)


for command in (
    db, users, resync, entries, send_now, runs_command, deliveries_command, failures,
    panchangam_command, template, run, web,
):  # fmt: skip
    main.add_command(command)


if __name__ == "__main__":
    main()
