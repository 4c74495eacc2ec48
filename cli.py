"""The `panchang` command line: a thin registry of the command groups, each beside its domain.

Every listing takes `--json` for scripts; errors are one line on stderr and a non-zero exit
(see `core.console`).
"""

from __future__ import annotations

import importlib

import click

from core.console import AppContext

# name -> ("module:attribute", one line of help). Each group is imported only when it runs:
# importing them all (SQLAlchemy, numpy through the panchangam, Celery, the web stack) made even
# `panchang --help` take most of a second, and a container healthcheck pays that every 10 s.
COMMANDS = {
    "db": ("models.commands:db", "Database schema."),
    "users": ("subscribers.commands:users", "Subscribers: add, change, show, erase, import."),
    "resync": ("scheduler.commands:resync", "Reconcile RedBeat entries with the active users now."),
    "entries": ("scheduler.commands:entries", "What fires when, and what is wrong."),
    "send-now": ("delivery.commands:send_now", "Send a slot's message now to who has not had it."),
    "runs": ("delivery.commands:runs_command", "What the slot runs did."),
    "deliveries": ("delivery.commands:deliveries_command", "Each user's message: the ledger."),
    "failures": ("delivery.commands:failures", "Dead letters; `failures retry` sends them again."),
    "report": ("maintenance.commands:report_command", "Each finished local date's outcomes."),
    "health": ("ops.health_command:health", "Is everything up? Exit 0 when healthy."),
    "timeline": ("ops.timeline_command:timeline_command", "The day's slots on a UTC axis."),
    "panchangam": ("panchangam.command:panchangam_command", "The panchangam of a place and date."),
    "template": ("whatsapp.commands:template", "The WhatsApp message template."),
    "run": ("embedded.commands:run", "Run everything: Beat, a worker, a sync (and Redis)."),
    "web": ("web.commands:web", "Webhook, metrics and the status page."),
}  # fmt: skip


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use; `--help` lists them from COMMANDS."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        module, attribute = COMMANDS[cmd_name][0].split(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(package_name="panchang-scheduler", prog_name="panchang")
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


if __name__ == "__main__":
    main()
