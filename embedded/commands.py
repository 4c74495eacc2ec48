"""`panchang run`: the whole system in one process tree."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import click

from core.console import AppContext, handle_errors
from core.errors import ConflictError

RUN_LOCK_FILE = "run.lock"


@click.command()
@click.option("--demo", is_flag=True, help="Add demo users in several zones, due next minute.")
@click.option("--concurrency", default=2, show_default=True, help="Worker processes.")
@click.pass_obj
@handle_errors
def run(obj: AppContext, demo: bool, concurrency: int) -> None:
    """Run everything: migrations, a sync, then Beat and a worker until Ctrl-C.

    Without REDIS_URL it starts a private Redis (stopped on exit) and records its URL in
    ./.panchang/redis.url so other `panchang` commands here find it. One run per folder.
    A worker or Beat that dies is restarted with backoff; Ctrl-C or SIGTERM stops Beat, then
    the worker, then Redis, and exits 0.
    """
    from core.settings import RUNTIME_REDIS_FILE, STATE_DIR
    from embedded import redis_server, supervisor

    stopping, forced = threading.Event(), threading.Event()
    with supervisor.stop_signals(stopping, forced), one_run_per_folder(STATE_DIR):
        settings = obj.settings
        private = None
        if not obj.redis_explicit:
            private = redis_server.start(STATE_DIR / "redis")
            RUNTIME_REDIS_FILE.write_text(private.url + "\n")
            settings = settings.with_redis(private.url, source=f"./{RUNTIME_REDIS_FILE}")
        obj.settings = settings
        try:
            _prepare(obj, demo, private is not None)
            if not stopping.is_set():
                supervisor.run(settings, click.echo, concurrency, stopping, forced)
        finally:
            if private is not None:
                RUNTIME_REDIS_FILE.unlink(missing_ok=True)
                private.stop()
            click.echo("stopped")


def _prepare(obj: AppContext, demo: bool, private_redis: bool) -> None:
    """Migrations, demo users, the banner and a first sync."""
    from sqlalchemy import func, select

    from core import clock
    from models import User
    from models.db import upgrade
    from scheduler.commands import run_sync

    settings = obj.settings
    upgrade(obj.engine)
    if demo:
        from embedded.demo import add_demo_users

        with obj.sessions() as session:
            for user in add_demo_users(session, clock.now()):
                line = (
                    f"demo user {user.phone} in {user.city}: {user.slot.send_time} {user.slot.zone}"
                )
                if user.already_sent:
                    line += (
                        f" (already had its message for {user.local_date}: the ledger sends "
                        "once per local day; remove ./.panchang/ for a fresh demo)"
                    )
                click.echo(line)
    with obj.sessions() as session:
        active = session.scalar(select(func.count(User.id)).where(User.sendable_at(clock.now())))
    where = "a private Redis, stopped on exit" if private_redis else settings.redis_source
    transport = (
        f"outbox {settings.outbox_path}"
        if settings.transport == "outbox"
        else f"WhatsApp at {settings.whatsapp.api_url}"
    )
    click.echo(f"database: {obj.engine.url.render_as_string(hide_password=True)}")
    click.echo(f"redis: {settings.redis_url} ({where})")
    click.echo(f"transport: {transport}")
    click.echo(f"users: {active} active")
    report = run_sync(obj)
    click.echo(
        f"sync: {len(report.created)} created, {len(report.updated)} updated, "
        f"{len(report.deleted)} deleted, {report.unchanged} unchanged  (Ctrl-C to stop)"
    )


@contextmanager
def one_run_per_folder(state_dir: Path) -> Iterator[None]:
    """Hold `state_dir/run.lock` for the run: a second `panchang run` in the same folder would
    share (and on exit delete) the first one's Redis and database, so it is refused."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / RUN_LOCK_FILE
    handle: IO[str] = path.open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise ConflictError(
                f"another `panchang run` (pid {holder}) is running in this folder "
                f"(./{path} is locked); stop it first, or run from another folder"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # releases the lock
