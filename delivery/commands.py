"""`panchang send-now`, `runs`, `deliveries` and `failures`: send a slot by hand, see what runs
did and what became of each message, and send dead letters again."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import click

from core.console import (
    AppContext,
    duration_text,
    emit_json,
    emit_table,
    handle_errors,
    json_option,
)
from core.errors import ValidationError
from core.names import BATCH_TASK

RUNS_DEFAULT_WINDOW = timedelta(hours=24)


@click.command("send-now")
@click.argument("zone")
@click.option(
    "--send-time",
    default=None,
    help="The slot's local send time HH:MM [default: PANCHANG_DEFAULT_SEND_TIME, 06:30].",
)
@click.option(
    "--date",
    "date_text",
    metavar="YYYY-MM-DD",
    help="Local date the message is for [default: that of the send time nearest to now].",
)
@click.option("--queue", is_flag=True, help="Hand the batches to the workers and return.")
@json_option
@click.pass_obj
@handle_errors
def send_now(
    obj: AppContext,
    zone: str,
    send_time: str | None,
    date_text: str | None,
    queue: bool,
    as_json: bool,
) -> None:
    """Send the slot's message now, through the configured transport, to its users who have
    not had it.

    The day is chosen as Beat chooses it, the occurrence of the send time nearest to now, so
    recovering a 23:45 slot at 00:05 sends the previous day's message; --date says otherwise.
    There is no grace period: after a halt is fixed, this sends the rest the same day. Users
    who already got that day's message get nothing (the same ledger as the scheduled runs).
    """
    from core import clock, validate
    from delivery.slot_run import plan_run, run_slot, summary_of
    from models import RunTrigger

    # Validate before touching the database or the transport, so bad input writes nothing.
    zone = validate.zone(zone, "zone")
    settings = obj.settings
    send_time = validate.send_time(send_time or settings.default_send_time, "--send-time")
    now = clock.now()
    day = _local_date(date_text, zone, now)
    if not _has_users(obj, zone, send_time, now):
        # Nothing to send is not a run that completed: say so, record nothing.
        from delivery.local_day import nearest_occurrence

        on = day or nearest_occurrence(zone, send_time, now).local_date
        if as_json:
            emit_json({"zone": zone, "send_time": send_time, "local_date": on.isoformat(),
                       "outcome": "no_users", "sent": 0, "skipped": 0, "failed": 0,
                       "held": 0, "unreachable": 0, "deferred": 0, "run_id": None})  # fmt: skip
        else:
            click.echo(f"{zone}@{send_time} has no active users: nothing to send")
        return
    if queue:
        from tasks.app import create_app

        plan = plan_run(
            obj.sessions, settings, zone, send_time, now, local_date=day, trigger=RunTrigger.MANUAL
        )
        app = create_app(settings)
        for batch_id in plan.batch_ids:
            app.send_task(BATCH_TASK, args=(batch_id,))
        summary = summary_of(obj.sessions, plan)
    else:
        client = _redis_for(obj)
        summary = run_slot(
            obj.sessions, _transport(obj, client), settings, zone, send_time, now,
            local_date=day, trigger=RunTrigger.MANUAL, redis_client=client,
        )  # fmt: skip
    if as_json:
        emit_json(summary.to_dict())
        return
    outcome = summary.outcome.value if summary.outcome else "sending"
    where = "queued for the workers" if queue else f"via {settings.transport}"
    click.echo(
        f"{zone}@{send_time} for {summary.local_date.isoformat()}: {outcome}, "
        f"{summary.sent} sent, {summary.skipped} skipped, {summary.failed} failed, "
        f"{summary.unreachable} unreachable ({where})"
    )
    if summary.deferred:
        click.echo(
            f"{summary.deferred} deferred after transient errors: run this again later",
            err=True,
        )
    if summary.held:
        click.echo(
            f"{summary.held} of the skipped are claimed by another run that has not finished; "
            f"if it died, the reconciler (or this command after {settings.claim_lease_s} s) "
            "sends them",
            err=True,
        )


def _has_users(obj: AppContext, zone: str, send_time: str, now: datetime) -> bool:
    """True when the slot has a user a run would send to: the sync's own presence probe."""
    from redbeat_sync import desired_slots
    from scheduler.slots import Slot

    with obj.sessions() as session:
        return bool(desired_slots(session, now, only=[Slot(zone, send_time)]).users)


def _local_date(date_text: str | None, zone: str, now: datetime) -> date | None:
    from core import validate
    from delivery.local_day import local_today

    if date_text is None:
        return None
    day = validate.local_date(date_text, "--date")
    today = local_today(zone, now)
    if abs((day - today).days) > 1:
        raise ValidationError(
            "--date", date_text, f"more than a day from today in {zone} ({today}); a "
            "message is sent for yesterday, today or tomorrow"
        )  # fmt: skip
    return day


def _redis_for(obj: AppContext) -> Any:
    """Redis for the WhatsApp rate limit and a run's halt switch; the outbox needs none."""
    if obj.settings.transport == "outbox" and not obj.settings.redis_url:
        return None
    return obj.redis()


def _transport(obj: AppContext, client: Any) -> Any:
    from transport.configured import configured_transport

    return configured_transport(obj.settings, client)


@click.command("runs")
@click.option("--date", "date_text", metavar="YYYY-MM-DD", help="Only runs for this local date.")
@click.option("--zone", help="Only runs of slots in this IANA zone.")
@json_option
@click.pass_obj
@handle_errors
def runs_command(obj: AppContext, date_text: str | None, zone: str | None, as_json: bool) -> None:
    """List slot runs, newest first (default: those started in the last 24 hours).

    Status is the outcome (complete, missed, failed, abandoned), or for a run in progress
    `running`, or `stale` when it has not reported for longer than the claim lease (the
    reconciler marks it abandoned and runs the slot again).
    """
    from core import clock, validate
    from delivery import runs

    local_date = validate.local_date(date_text, "--date") if date_text else None
    zone = validate.zone(zone, "--zone") if zone else None
    now = clock.now()
    settings = obj.settings
    with obj.sessions() as session:
        found = runs.list_runs(
            session,
            local_date=local_date,
            zone=zone,
            started_after=None if local_date or zone else now - RUNS_DEFAULT_WINDOW,
        )
        views = [_view(run, now, settings.claim_lease_s) for run in found]
    if as_json:
        emit_json(views)
        return
    emit_table(
        ("id", "slot", "local date", "trigger", "status", "lag", "batches", "sent", "skipped",
         "failed", "held", "last report", "by"),
        [
            (
                v["id"], f"{v['timezone']}@{v['send_time']}", v["local_date"], v["trigger"],
                v["status"], duration_text(v["lag_s"]), _batches(v),
                v["sent"], v["skipped"], v["failed"], v["held"],
                f"{duration_text(v['last_report_age_s'])} ago", f"{v['host']}:{v['pid']}",
            )
            for v in views
        ],
    )  # fmt: skip
    for view in views:
        if view["error"]:
            click.echo(f"run {view['id']}: {view['error']}", err=True)


def _view(run: Any, now: datetime, lease_s: int) -> dict[str, Any]:
    from delivery.local_day import occurrence_on

    scheduled = occurrence_on(run.timezone, run.send_time, run.local_date)
    report = run.heartbeat_at or run.started_at
    age_s = (now - report).total_seconds()
    status = run.outcome or ("stale" if age_s > lease_s else "running")
    return {
        "id": run.id,
        "timezone": run.timezone,
        "send_time": run.send_time,
        "local_date": run.local_date.isoformat(),
        "trigger": run.trigger,
        "status": status,
        "outcome": run.outcome,
        "scheduled_at": scheduled.isoformat(),
        "started_at": run.started_at.isoformat(),
        "lag_s": round((run.started_at - scheduled).total_seconds(), 1),
        "last_report_at": report.isoformat(),
        "last_report_age_s": round(age_s, 1),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "batches_total": run.batches_total,
        "batches_done": run.batches_done,
        "sent": run.sent,
        "skipped": run.skipped,
        "failed": run.failed,
        "held": run.held,
        "task_id": run.task_id,
        "host": run.host,
        "pid": run.pid,
        "error": run.error,
    }


def _batches(view: dict[str, Any]) -> str:
    total = view["batches_total"]
    return "-" if total is None else f"{view['batches_done']}/{total}"


DELIVERY_HEADERS = (
    "user", "phone", "slot", "local date", "status", "message id", "code", "attempts", "error",
)  # fmt: skip


def _filters(date_text: str | None, zone: str | None, status: str | None, code: int | None) -> Any:
    from core import validate
    from delivery.deliveries import Filters
    from models import DeliveryStatus

    if status is not None and status not in {s.value for s in DeliveryStatus}:
        raise ValidationError(
            "--status", status, f"not one of {', '.join(s.value for s in DeliveryStatus)}"
        )
    return Filters(
        local_date=validate.local_date(date_text, "--date") if date_text else None,
        zone=validate.zone(zone, "--zone") if zone else None,
        status=status,
        code=code,
    )


def _emit_deliveries(views: list[Any], as_json: bool) -> None:
    if as_json:
        emit_json([view.to_dict() for view in views])
        return
    emit_table(
        DELIVERY_HEADERS,
        [
            (
                v.user_id or "-", v.phone or "(erased)", f"{v.timezone}@{v.send_time}",
                v.local_date, v.status,
                v.message_id or "-", v.error_code or "-", v.attempts, (v.error or "")[:60],
            )
            for v in views
        ],
    )  # fmt: skip


@click.command("deliveries")
@click.option("--date", "date_text", metavar="YYYY-MM-DD", help="Only this local date.")
@click.option("--zone", help="Only slots in this IANA zone.")
@click.option("--status", help="Only rows with this status (pending, accepted, sent, ...).")
@json_option
@click.pass_obj
@handle_errors
def deliveries_command(
    obj: AppContext, date_text: str | None, zone: str | None, status: str | None, as_json: bool
) -> None:
    """List ledger rows: one per user and local date, with WhatsApp's message id and status
    (pending, accepted, sent, delivered, read, failed, skipped)."""
    from delivery.deliveries import list_deliveries

    filters = _filters(date_text, zone, status, None)
    with obj.sessions() as session:
        views = list_deliveries(session, filters)
    _emit_deliveries(views, as_json)


FAILURE_FILTERS = [
    click.option("--date", "date_text", metavar="YYYY-MM-DD", help="Only this local date."),
    click.option("--zone", help="Only slots in this IANA zone."),
    click.option("--code", type=int, help="Only this WhatsApp error code."),
]


def _failure_filters(func: Any) -> Any:
    for option in reversed(FAILURE_FILTERS):
        func = option(func)
    return func


@click.group("failures", invoke_without_command=True)
@_failure_filters
@json_option
@click.pass_context
@handle_errors
def failures(
    ctx: click.Context, date_text: str | None, zone: str | None, code: int | None, as_json: bool
) -> None:
    """List dead letters (final failures) with user, phone, code, message and attempts;
    `failures retry` sends them again."""
    if ctx.invoked_subcommand is not None:
        return
    from delivery.deliveries import list_deliveries

    obj: AppContext = ctx.obj
    with obj.sessions() as session:
        views = list_deliveries(session, _filters(date_text, zone, "failed", code))
    _emit_deliveries(views, as_json)


@failures.command("retry", short_help="Send the matching dead letters again.")
@_failure_filters
@json_option
@click.pass_obj
@handle_errors
def failures_retry(
    obj: AppContext, date_text: str | None, zone: str | None, code: int | None, as_json: bool
) -> None:
    """Send the matching dead letters again, now, through the configured transport (still at
    most one message per user and local date). Users who left or are unreachable are left
    out: `panchang users reactivate` first."""
    from core import clock
    from delivery.deliveries import retry_failures
    from delivery.slot_run import run_slot
    from models import RunTrigger
    from models.db import session_scope

    filters = _filters(date_text, zone, None, code)
    now = clock.now()
    with session_scope(obj.sessions) as session:
        slots = retry_failures(session, filters, now)
    client = _redis_for(obj) if slots else None
    summaries = [
        run_slot(
            obj.sessions, _transport(obj, client), obj.settings, slot_zone, send_time, now,
            local_date=local_date, trigger=RunTrigger.MANUAL, redis_client=client,
        )
        for (slot_zone, send_time, local_date) in sorted(slots)
    ]  # fmt: skip
    if as_json:
        emit_json([s.to_dict() for s in summaries])
        return
    if not summaries:
        click.echo("no dead letters to send again")
    for s in summaries:
        click.echo(
            f"{s.zone}@{s.send_time} for {s.local_date}: {s.sent} sent, {s.failed} failed again, "
            f"{s.deferred} deferred"
        )
