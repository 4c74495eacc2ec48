"""`panchang health`: is this system (or, with `--role`, this container) working?"""

from __future__ import annotations

import sys

import click

from core.console import AppContext, emit_json, handle_errors, json_option
from ops.health import ROLES, Thresholds, evaluate, render_text
from ops.probe import observe


@click.command("health")
@json_option
@click.option(
    "--role",
    type=click.Choice(ROLES),
    help="Check only what one container needs (fast enough for a healthcheck every 10 s): "
    "worker = Redis, database, this host's worker heartbeat; beat = Redis, a Beat holding the "
    "lock and ticking; web = Redis, database.",
)
@click.option(
    "--ping",
    is_flag=True,
    help="Also run `celery inspect ping` (2 s budget). Costly: not for healthchecks.",
)
@click.pass_obj
@handle_errors
def health(app: AppContext, as_json: bool, role: str | None, ping: bool) -> None:
    """Check Redis, the database, Beat, workers, the sync, entries and today's runs.

    Exit 0 when healthy, 1 with each problem on its own line otherwise."""
    settings = app.settings
    limits = Thresholds.from_settings(settings.beat_max_interval_s, settings.sync_interval_s)
    result = evaluate(observe(settings, role=role, ping=ping), limits)
    if as_json:
        emit_json(result.report)
    else:
        for line in render_text(result):
            click.echo(line)
    sys.exit(0 if result.ok else 1)
