"""`panchang report`: the daily stats of a local date or an ISO week."""

from __future__ import annotations

import re
from datetime import date, timedelta

import click

from core.console import AppContext, emit_json, emit_table, handle_errors, json_option
from core.errors import ValidationError

# The statuses as columns, in the order a message moves through them.
STATUS_COLUMNS = ("pending", "accepted", "sent", "delivered", "read", "failed", "skipped")
_WEEK = re.compile(r"(\d{4})-W(\d{2})")


def parse_week(text: str, option: str = "--week") -> date:
    """The Monday of ISO week `text` ('2026-W47'); ValidationError naming `option`."""
    match = _WEEK.fullmatch(text.strip())
    if match:
        try:
            return date.fromisocalendar(int(match[1]), int(match[2]), 1)
        except ValueError:
            pass
    raise ValidationError(option, text, "not an ISO week like 2026-W47 (weeks 01 to 52 or 53)")


def report_range(date_text: str | None, week_text: str | None, today: date) -> tuple[date, date]:
    """First and last local date the report covers; yesterday (UTC) without options."""
    from core import validate

    if date_text is not None and week_text is not None:
        raise ValidationError("--week", week_text, "give --date or --week, not both")
    if week_text is not None:
        first = parse_week(week_text)
        return first, first + timedelta(days=6)
    day = validate.local_date(date_text, "--date") if date_text else today - timedelta(days=1)
    return day, day


@click.command("report")
@click.option(
    "--date", "date_text", metavar="YYYY-MM-DD", help="One local date [default: yesterday]."
)
@click.option("--week", "week_text", metavar="YYYY-Www", help="An ISO week, e.g. 2026-W47.")
@json_option
@click.pass_obj
@handle_errors
def report_command(
    obj: AppContext, date_text: str | None, week_text: str | None, as_json: bool
) -> None:
    """What each slot's messages became on finished local dates (from `daily_stats`, which the
    hourly daily-report rolls up once a date has ended in its zone plus the late grace)."""
    from core import clock
    from maintenance.daily_stats import read_stats

    first, last = report_range(date_text, week_text, clock.now().date())
    with obj.sessions() as session:
        days = read_stats(session, first, last)
    statuses: dict[str, int] = {}
    runs: dict[str, int] = {}
    for day in days:
        for key, n in day.statuses.items():
            statuses[key] = statuses.get(key, 0) + n
        for key, n in day.runs.items():
            runs[key] = runs.get(key, 0) + n
    if as_json:
        emit_json(
            {
                "from": first.isoformat(),
                "to": last.isoformat(),
                "slots": [day.to_dict() for day in days],
                "totals": {
                    "total": sum(statuses.values()),
                    "statuses": dict(sorted(statuses.items())),
                    "runs": dict(sorted(runs.items())),
                },
            }
        )
        return
    if not days:
        click.echo(f"no stats for {first.isoformat()} to {last.isoformat()} (not finished yet?)")
        return
    emit_table(
        ("local date", "zone", "time", "total", *STATUS_COLUMNS, "runs"),
        [
            (
                d.local_date.isoformat(), d.timezone, d.send_time, d.total,
                *(d.statuses.get(s, 0) for s in STATUS_COLUMNS),
                ", ".join(f"{k} {v}" for k, v in sorted(d.runs.items())),
            )
            for d in days
        ],
    )  # fmt: skip
    click.echo(
        f"total {sum(statuses.values())}: "
        + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
        + "; runs: "
        + ", ".join(f"{k} {v}" for k, v in sorted(runs.items()))
    )
