"""`panchangam` click command: print a day's panchangam for a place, as text or JSON."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from core.errors import ValidationError
from panchangam.day import compute
from panchangam.render import summary_text, to_json_dict


def _fail(message: str) -> None:
    """One clear line on stderr and exit status 2 (click's own code for bad usage)."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


def _number(text: str | None, option: str, limit: float) -> float:
    if text is None:
        _fail(f"{option} is required")
    try:
        value = float(text)  # type: ignore[arg-type]
    except ValueError:
        _fail(f"{option} {text!r} is not a number")
    if not -limit <= value <= limit:
        _fail(f"{option} {text} is outside -{limit:g}..{limit:g} degrees")
    return value


@click.command("panchangam")
@click.option("--date", "date_text", metavar="YYYY-MM-DD", help="Local date (default: today).")
@click.option("--lat", "lat_text", metavar="DEG", help="Latitude, -90..90, north positive.")
@click.option("--lon", "lon_text", metavar="DEG", help="Longitude, -180..180, east positive.")
@click.option("--tz", "zone", metavar="ZONE", help="IANA time zone, e.g. Asia/Kolkata.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON form instead of text.")
def panchangam_command(
    date_text: str | None,
    lat_text: str | None,
    lon_text: str | None,
    zone: str | None,
    as_json: bool,
) -> None:
    """Print the day's panchangam for a place (times in its zone)."""
    # Options are parsed here rather than by click types so every bad input gives the same
    # single line and exit 2, instead of click's multi-line usage block.
    latitude = _number(lat_text, "--lat", 90.0)
    longitude = _number(lon_text, "--lon", 180.0)
    if not zone:
        _fail("--tz is required (an IANA zone such as Asia/Kolkata)")
    try:
        tz = ZoneInfo(zone)  # type: ignore[arg-type]
    except (ZoneInfoNotFoundError, ValueError):
        _fail(f"--tz {zone!r} is not a known IANA time zone")
    if date_text is None:
        local_date = datetime.now(tz).date()
    else:
        try:
            local_date = date.fromisoformat(date_text)
        except ValueError:
            _fail(f"--date {date_text!r} is not a date in the form YYYY-MM-DD")
    try:
        result = compute(local_date, latitude, longitude, zone)  # type: ignore[arg-type]
    except ValidationError as err:
        _fail(str(err))
    if as_json:
        click.echo(json.dumps(to_json_dict(result), indent=2, ensure_ascii=False))
    else:
        click.echo(summary_text(result))
