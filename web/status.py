"""`GET /`: the status page, the I/O part. Gathers a `web.status_page.StatusPage` (the health
checks of `panchang health`, today's timeline, the last runs, today's dead letters) and renders
it; the page reloads itself, so a wall screen stays current.

Each section reads on its own, so one that fails shows "unavailable: <why>" and the rest still
render: the page is most needed when something is down. When the health check already found
the database down, its sections do not try again: the app's engine has no 2 s connect timeout
like the probe's, and a page that hangs on a dead server says nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, time
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from core import clock, validate
from core.settings import Settings
from delivery.deliveries import DeliveryView, view_query
from delivery.local_day import occurrence_on
from delivery.runs import list_runs
from models import Delivery, DeliveryStatus, SendRun
from models.db import explain
from web.status_page import RunLine, StatusPage, Unavailable, render

RUNS_SHOWN = 20
DEAD_LETTERS_SHOWN = 50

# Matplotlib's `rc_context` (used to draw the SVG) sets and restores global settings: two
# pages drawn at once could restore each other's, so one picture is drawn at a time.
_DRAWING = threading.Lock()

_T = TypeVar("_T")


def routes(settings: Settings, sessions: sessionmaker[Session]) -> list[Route]:
    async def status(_request: Request) -> Response:
        # Blocking reads (each probe with its 2 s timeout), off the event loop: the webhook
        # shares this process.
        page = await run_in_threadpool(gather, settings, sessions)
        return HTMLResponse(render(page), headers={"Cache-Control": "no-store"})

    return [Route("/", status, methods=["GET"])]


def gather(
    settings: Settings, sessions: sessionmaker[Session], now: datetime | None = None
) -> StatusPage:
    """Everything the page shows, as of `now` (aware; default the clock)."""
    from ops.health import Thresholds, checks, evaluate
    from ops.probe import observe

    now = (now or clock.now()).astimezone(UTC)
    day = now.date()
    limits = Thresholds.from_settings(settings.beat_max_interval_s, settings.sync_interval_s)
    health = evaluate(observe(settings), limits)
    lines = checks(health)
    database = next(line for line in lines if line.name == "database")
    down = Unavailable("; ".join(database.details)) if database.ok is False else None

    def section(read: Callable[[Session], _T]) -> _T | Unavailable:
        if down is not None:
            return down
        try:
            with sessions() as session:
                return read(session)
        except SQLAlchemyError as err:
            return Unavailable(str(explain(err, settings.database_url)))

    def timeline(session: Session) -> str:
        from ops.timeline import load_timeline
        from ops.timeline_chart import timeline_svg

        rows = load_timeline(session, day, now)
        with _DRAWING:
            return timeline_svg(rows, day)

    def runs(session: Session) -> list[RunLine]:
        return [run_line(run) for run in list_runs(session, limit=RUNS_SHOWN)]

    midnight = datetime.combine(day, time.min, tzinfo=UTC)
    dead = section(lambda session: dead_letters(session, midnight, DEAD_LETTERS_SHOWN))
    return StatusPage(
        now=now,
        day=day,
        ok=health.ok,
        problems=len(health.problems),
        checks=lines,
        timeline_svg=section(timeline),
        runs=section(runs),
        dead_letters=dead,
        # Counted by the health probe already, by the same rule (failed since 00:00 UTC).
        dead_letters_total=int((health.report.get("today") or {}).get("dead_letters") or 0),
    )


def run_line(run: SendRun) -> RunLine:
    """The page's view of a run, with its lag behind the slot's scheduled time that day."""
    lag = None
    if validate.is_valid_zone(run.timezone):  # a row written by hand may hold anything
        scheduled = occurrence_on(run.timezone, run.send_time, run.local_date)
        lag = (run.started_at - scheduled).total_seconds()
    return RunLine(
        id=run.id, zone=run.timezone, send_time=run.send_time, local_date=run.local_date,
        trigger=run.trigger, started_at=run.started_at, finished_at=run.finished_at,
        outcome=run.outcome, sent=run.sent, skipped=run.skipped, failed=run.failed,
        held=run.held, unreachable=run.unreachable, deferred=run.deferred, error=run.error,
        lag_s=lag,
    )  # fmt: skip


def dead_letters(session: Session, since: datetime, limit: int) -> list[DeliveryView]:
    """Rows that failed for good since `since`, newest first (at most `limit`): the rows
    `panchang health` counts as today's dead letters (failed, last changed since 00:00 UTC)."""
    failed_since = (
        Delivery.status == DeliveryStatus.FAILED.value,
        Delivery.updated_at >= since,
    )
    rows = session.execute(
        view_query()
        .where(*failed_since)
        .order_by(Delivery.updated_at.desc(), Delivery.id.desc())
        .limit(limit)
    )
    return [DeliveryView(*row) for row in rows]
