"""The status page, the pure part: what was gathered in, HTML out.

`web.status` reads Redis and the database into a `StatusPage`; `render` turns it into one
server-rendered HTML page (a Jinja2 template with autoescaping, a little inline CSS, no
script), so every way the page can look is testable without a server or a browser.

The page has no login (it is for the internal network, like `/metrics`), so it never shows a
whole phone number: `mask_phone` keeps the last 4 digits, enough to tell rows apart and to
find one with `panchang failures`, not enough to call anyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from core.console import duration_text
from delivery.deliveries import DeliveryView
from ops.health import Check
from ops.timeline_chart import COLOURS

TEMPLATES_DIR = Path(__file__).parent / "templates"
# Long enough that the page's own checks (each with a 2 s timeout) are a small load, short
# enough that a wall screen shows a Beat that stopped within a minute.
REFRESH_S = 30
# The colour of a check's line: failing is the chart's `failed` red, passing its `complete`
# green, so the page and the picture speak one colour language.
CHECK_COLOURS = {True: COLOURS["complete"], False: COLOURS["failed"], None: "#757575"}


@dataclass(frozen=True)
class Unavailable:
    """A section that could not be read (its database is down), with why."""

    error: str


@dataclass(frozen=True)
class RunLine:
    """One `send_run` row as the page shows it. `lag_s` is how long after the slot's scheduled
    time the run started (negative: early); None when the row's zone is not a zone."""

    id: int
    zone: str
    send_time: str
    local_date: date
    trigger: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None  # None while running
    sent: int
    skipped: int
    failed: int
    held: int
    unreachable: int
    deferred: int
    error: str | None
    lag_s: float | None


@dataclass(frozen=True)
class StatusPage:
    now: datetime  # aware UTC
    day: date  # the UTC date of `now`: the timeline's and the dead letters' day
    ok: bool
    problems: int
    checks: Sequence[Check]
    timeline_svg: str | Unavailable
    runs: Sequence[RunLine] | Unavailable
    # Today's dead letters, newest first, at most the page's limit; `dead_letters_total` counts
    # them all.
    dead_letters: Sequence[DeliveryView] | Unavailable
    dead_letters_total: int = 0
    refresh_s: int = REFRESH_S


def mask_phone(phone: str | None) -> str:
    """'+919845012345' -> '+••••••••2345'; an erased user's row has no phone."""
    if not phone:
        return "(erased)"
    digits = sum(ch.isdigit() for ch in phone)
    out, seen = [], 0
    for ch in phone:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > digits - 4 else "•")
        else:
            out.append(ch)
    return "".join(out)


def format_lag(seconds: float | None) -> str:
    """'+42 s', '+3 min 05 s', '+2 h 07 min', '-2 s' (started early); '?' when unknown."""
    return "?" if seconds is None else duration_text(seconds, signed=True)


def format_utc(at: datetime | None, day: date) -> str:
    """'01:00:42' on the page's day, '2026-11-21 23:59:10' on another; '' for None."""
    if at is None:
        return ""
    return f"{at:%H:%M:%S}" if at.date() == day else f"{at:%Y-%m-%d %H:%M:%S}"


def outcome_colour(outcome: str | None) -> str:
    return COLOURS.get(outcome or "running", "#333333")


def inline_svg(svg: str) -> Markup:
    """Matplotlib's SVG document as an element for an HTML page: without the XML prolog and
    DOCTYPE, which mean nothing inside HTML. Trusted markup: we drew it, and matplotlib
    escapes the text in it (zone names, which are validated anyway)."""
    start = svg.find("<svg")
    return Markup(svg[start:] if start >= 0 else svg)


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        # A misspelt field is an error in the tests, not a blank cell in production.
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        masked=mask_phone, lag=format_lag, outcome_colour=outcome_colour, inline_svg=inline_svg
    )
    env.tests["unavailable"] = lambda value: isinstance(value, Unavailable)
    return env


def render(page: StatusPage) -> str:
    """The page as HTML."""
    template = _environment().get_template("status.html")
    return template.render(
        page=page, check_colours=CHECK_COLOURS, utc=lambda at: format_utc(at, page.day)
    )
