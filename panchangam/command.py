"""`panchangam` click command: print a day's panchangam for a place, as text or JSON."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import NoReturn
from zoneinfo import ZoneInfo

import click

from core import validate
from core.errors import ValidationError
from panchangam.day import compute
from panchangam.render import summary_text, to_json_dict


def _fail(message: str) -> NoReturn:
    """One clear line on stderr and exit status 2 (click's own code for bad usage)."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


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
    # single line and exit 2 as everywhere else ("invalid latitude '91': ..."), instead of
    # click's multi-line usage block.
    try:
        for value, option in ((lat_text, "--lat"), (lon_text, "--lon"), (zone, "--tz")):
            if not value:
                _fail(f"{option} is required")
        latitude = validate.latitude(lat_text)
        longitude = validate.longitude(lon_text)
        tz_name = validate.zone(zone or "")
        if date_text is None:
            local_date = datetime.now(ZoneInfo(tz_name)).date()
        else:
            local_date = validate.local_date(date_text, "--date")
    except ValidationError as err:
        _fail(str(err))
    try:
        result = compute(local_date, latitude, longitude, tz_name)
    except ValidationError as err:
        _fail(str(err))
    if as_json:
        click.echo(json.dumps(to_json_dict(result), indent=2, ensure_ascii=False))
    else:
        click.echo(summary_text(result))
