"""`panchang run`: the whole system in one process tree."""

from __future__ import annotations

import sys

import click

from core.console import AppContext, handle_errors


@click.command()
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
    from scheduler.commands import run_sync

    settings = obj.settings
    private = None
    if not obj.redis_explicit:
        private = redis_server.start(STATE_DIR / "redis")
        RUNTIME_REDIS_FILE.write_text(private.url + "\n")
        settings = settings.with_redis(private.url, source=f"./{RUNTIME_REDIS_FILE}")
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
