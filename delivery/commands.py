"""`panchang send-now` and `panchang runs`: send a slot by hand, and see what runs did."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import click

from core.console import AppContext, emit_json, emit_table, handle_errors, json_option
from core.errors import ValidationError

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
@json_option
@click.pass_obj
@handle_errors
def send_now(
    obj: AppContext, zone: str, send_time: str | None, date_text: str | None, as_json: bool
) -> None:
    """Send the slot's message now to its active users who have not had it, into the outbox.

    The day is chosen as Beat chooses it, the occurrence of the send time nearest to now, so
    recovering a 23:45 slot at 00:05 sends the previous day's message; --date says otherwise.
    There is no grace period: an operator may send a slot hours late. Users who already got
    that day's message get nothing (the same ledger as the scheduled runs).
    """
    from core import clock, validate
    from delivery.local_day import local_today
    from delivery.slot_run import run_slot
    from models import RunTrigger
    from transport.outbox import OutboxTransport

    # Validate before touching the database or the outbox, so bad input writes nothing.
    zone = validate.zone(zone, "zone")
    settings = obj.settings
    send_time = validate.send_time(send_time or settings.default_send_time, "--send-time")
    now = clock.now()
    day = None
    if date_text is not None:
        day = validate.local_date(date_text, "--date")
        today = local_today(zone, now)
        if abs((day - today).days) > 1:
            raise ValidationError(
                "--date", date_text, f"more than a day from today in {zone} ({today}); a "
                "message is sent for yesterday, today or tomorrow"
            )  # fmt: skip
    summary = run_slot(
        obj.sessions,
        OutboxTransport(settings.outbox_path),
        settings,
        zone,
        send_time,
        now,
        local_date=day,
        trigger=RunTrigger.MANUAL,
    )
    if as_json:
        emit_json(summary.to_dict())
        return
    outcome = summary.outcome.value if summary.outcome else "running"
    click.echo(
        f"{zone}@{send_time} for {summary.local_date.isoformat()}: {outcome}, "
        f"{summary.sent} sent, {summary.skipped} skipped, {summary.failed} failed "
        f"(outbox {settings.outbox_path})"
    )
    if summary.held:
        click.echo(
            f"{summary.held} of the skipped are claimed by another run that has not finished; "
            f"if it died, the reconciler (or this command after {settings.claim_lease_s} s) "
            "sends them",
            err=True,
        )


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
                v["status"], _duration(v["lag_s"]), _batches(v),
                v["sent"], v["skipped"], v["failed"], v["held"],
                f"{_duration(v['last_report_age_s'])} ago", f"{v['host']}:{v['pid']}",
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


def _duration(seconds: float) -> str:
    sign = "-" if seconds < 0 else ""
    whole = int(abs(seconds))
    if whole < 60:
        return f"{sign}{whole}s"
    if whole < 3600:
        return f"{sign}{whole // 60}m{whole % 60:02d}s"
    return f"{sign}{whole // 3600}h{whole % 3600 // 60:02d}m"
