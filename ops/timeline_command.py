"""`panchang timeline`: every slot that fires on a UTC date, as a table, JSON or a picture.

Its own module rather than `ops/commands.py` so that the other `ops` commands (health) and this
one can change without touching each other's file.
"""

from __future__ import annotations

from pathlib import Path

import click

from core.console import AppContext, emit_json, emit_table, handle_errors, json_option
from core.errors import ValidationError

FORMATS = {".png": "png", ".svg": "svg"}


@click.command("timeline")
@click.option(
    "--date",
    "date_text",
    metavar="YYYY-MM-DD",
    help="The UTC date [default: today in UTC].",
)
@click.option(
    "--out",
    metavar="FILE.png|FILE.svg",
    help="Draw the day to this file (PNG or SVG, by its suffix) instead of printing a table.",
)
@json_option
@click.pass_obj
@handle_errors
def timeline_command(
    obj: AppContext, date_text: str | None, out: str | None, as_json: bool
) -> None:
    """Show every slot occurrence that fires within a UTC date (00:00 to 24:00 UTC), at its
    real UTC time, with its users and what its runs did.

    A slot fires once per local date, at its send time in its zone with that date's DST. The
    local dates whose send time falls within a UTC date are the day before, the day itself and
    the day after: Pacific/Kiritimati (+14) at 06:30 on the 9th fires at 16:30 UTC on the 8th,
    Pacific/Pago_Pago (-11) at 18:00 on the 7th fires at 05:00 UTC on the 8th. So the rows are
    the occurrences whose UTC instant lies within the date, each with the local date it is
    for; a slot near midnight UTC may appear twice, or not at all, on a day its offset changes.
    A send time that does not exist that day (inside a spring-forward gap) fires one gap later,
    as Beat fires it; the table says so.

    Users are the slot's active, reachable subscribers now. Status: complete, missed, failed,
    halted or abandoned (any complete run wins, else the latest run's outcome), running (a run
    without an outcome yet), or `not run` (no run on record for that local date).
    """
    from core import clock, validate
    from ops.timeline import load_timeline

    # Validate everything before reading the database, so bad input costs nothing.
    day = validate.local_date(date_text, "--date") if date_text else clock.now().date()
    fmt = _format(out) if out else None
    now = clock.now()
    with obj.sessions() as session:
        rows = load_timeline(session, day, now)
    if out is not None and fmt is not None:
        from ops.timeline_chart import render

        path = Path(out)
        try:
            path.write_bytes(render(rows, day, fmt))
        except OSError as err:
            raise ValidationError("--out", out, err.strerror or str(err)) from None
        if not as_json:
            click.echo(f"wrote {path} ({len(rows)} occurrences on {day.isoformat()} UTC)")
    if as_json:
        emit_json({"utc_date": day.isoformat(), "rows": [row.to_dict() for row in rows]})
        return
    if out is not None:
        return
    if not rows:
        click.echo(f"no slot fires on {day.isoformat()} (UTC)")
        return
    emit_table(
        ("utc", "zone", "local time", "local date", "offset", "users", "status", "runs"),
        [
            (
                f"{row.utc:%H:%M}",
                row.zone,
                row.send_time
                if row.local_time == row.send_time
                else f"{row.send_time} (fires {row.local_time}, DST gap)",
                row.local_date.isoformat(),
                row.utc_offset,
                row.users,
                row.status,
                row.runs,
            )
            for row in rows
        ],
    )


def _format(out: str) -> str:
    fmt = FORMATS.get(Path(out).suffix.lower())
    if fmt is None:
        raise ValidationError("--out", out, "must end in .png or .svg")
    return fmt
