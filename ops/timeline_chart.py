"""The timeline as a picture: one bar per slot occurrence on a 24-hour UTC axis.

A bar stands at the occurrence's UTC fire time, as tall as the slot's users, coloured by what
its runs did, and is labelled below the axis with its zone and local send time (`+1d`/`-1d`
when it serves the local date after or before the UTC date). Occurrences at the same UTC minute
(Asia/Kolkata and Asia/Colombo at 06:30 are both 01:00 UTC) stand side by side, not on top of
each other, so every one keeps its own bar and label.

Matplotlib is imported inside the functions that draw, so no other command pays for it, and
through its object API with the Agg canvas rather than pyplot: pyplot keeps global figure
state and picks a GUI backend, neither of which a CLI or a web page embedding the SVG wants.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from ops.timeline import NOT_RUN, RUNNING, STATUSES, TimelineRow, load_timeline

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from sqlalchemy.orm import Session

# One colour per status; "not run" is a neutral grey so that the eye goes to what happened.
COLOURS = {
    "complete": "#2e7d32",
    "missed": "#ef6c00",
    "failed": "#c62828",
    "halted": "#6a1b9a",
    "abandoned": "#795548",
    RUNNING: "#1565c0",
    NOT_RUN: "#b0b0b0",
}
assert set(COLOURS) == set(STATUSES)

DPI = 100
HEIGHT_IN = 8.0
MIN_WIDTH_IN = 16.0
MAX_WIDTH_IN = 80.0
# Room for one rotated label per bar: past about 130 bars a 16-inch figure grows wider.
WIDTH_PER_ROW_IN = 0.13
# Below the axis, for the rotated slot labels (the longest zone names are about 30 characters).
LABEL_ROOM_IN = 2.6
# A bar is 8 minutes wide: visible on a 24-hour axis, narrow enough that slots 10 minutes
# apart do not touch.
BAR_WIDTH_H = 8 / 60
# Pixels from one rotated label's centre to the next: a 7-point line of text plus air.
LABEL_PITCH_PX = 12


def figure_size_px(n_rows: int) -> tuple[int, int]:
    """(width, height) in pixels of the picture of `n_rows` occurrences."""
    width_in = min(MAX_WIDTH_IN, max(MIN_WIDTH_IN, n_rows * WIDTH_PER_ROW_IN))
    return round(width_in * DPI), round(HEIGHT_IN * DPI)


def draw(rows: Sequence[TimelineRow], day: date) -> Figure:
    """A matplotlib Figure (on an Agg canvas) of the day's rows."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.transforms import blended_transform_factory

    width_px, height_px = figure_size_px(len(rows))
    fig = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    fig.subplots_adjust(left=0.05, right=0.99, top=0.90, bottom=LABEL_ROOM_IN / HEIGHT_IN)

    positions = _positions(rows, day)
    ax.bar(
        positions,
        [row.users for row in rows],
        width=BAR_WIDTH_H,
        color=[COLOURS[row.status] for row in rows],
        edgecolor="#333333",
        linewidth=0.4,
    )
    # Labels under the axis, at each bar's x: data x, axes y, so they line up whatever the
    # heights, and a tall bar never hides a neighbour's label.
    under = blended_transform_factory(ax.transData, ax.transAxes)
    axes_width_px = width_px * (0.99 - 0.05)
    label_x = _spread(positions, LABEL_PITCH_PX / (axes_width_px / 24))
    for x, row in zip(label_x, rows, strict=True):
        shift = row.day_shift(day)
        suffix = f" ({shift:+d}d)" if shift else ""
        ax.text(
            x, -0.01, f"{row.label}{suffix}", transform=under, rotation=90,
            ha="center", va="top", fontsize=7,
        )  # fmt: skip

    ax.set_xlim(0, 24)
    ax.set_xticks(range(25))
    # Hours on top: the bottom belongs to the slot labels.
    ax.xaxis.tick_top()
    ax.set_xticklabels([f"{h:02d}:00" for h in range(25)], fontsize=8)
    ax.set_xlabel(f"UTC time on {day.isoformat()}", fontsize=9)
    ax.xaxis.set_label_position("top")
    ax.set_ylabel("users", fontsize=9)
    top = max((row.users for row in rows), default=0)
    ax.set_ylim(0, max(1, top) * 1.08)
    ax.grid(axis="x", color="#e0e0e0", linewidth=0.6)
    ax.set_axisbelow(True)
    fig.text(
        0.005, 0.005,
        "Bars: users of each slot occurrence, at its UTC fire time. Labels: zone and local send "
        "time; (+1d)/(-1d): for the local date after/before this UTC date.",
        fontsize=7, color="#555555", ha="left", va="bottom",
    )  # fmt: skip
    if not rows:
        ax.text(12, 0.5, "no slot fires on this date", ha="center", va="center", fontsize=12)
    fig.suptitle(
        f"Slots firing on {day.isoformat()} (UTC): {len(rows)} occurrences, "
        f"{sum(row.users for row in rows)} users",
        fontsize=11,
    )
    present = [status for status in STATUSES if any(row.status == status for row in rows)]
    if present:
        ax.legend(
            handles=[Patch(color=COLOURS[s], label=s) for s in present],
            loc="upper right", fontsize=8, framealpha=0.9,
        )  # fmt: skip
    return fig


def _positions(rows: Sequence[TimelineRow], day: date) -> list[float]:
    """Hours since 00:00 UTC of each row, occurrences of one minute spread side by side."""
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    hours = [(row.utc - midnight).total_seconds() / 3600 for row in rows]
    groups: dict[float, list[int]] = {}
    for index, hour in enumerate(hours):
        groups.setdefault(hour, []).append(index)
    positions = list(hours)
    for members in groups.values():
        for n, index in enumerate(members):
            positions[index] += (n - (len(members) - 1) / 2) * BAR_WIDTH_H
    return positions


def _spread(xs: Sequence[float], gap: float) -> list[float]:
    """Label positions near `xs` (ascending) at least `gap` apart, kept within 0..24 hours.

    Bars of one minute already stand side by side, but slots a few minutes apart (05:45 and
    06:00 in two zones) would still print their labels over each other; this nudges labels
    apart, bars stay where their time is.
    """
    out = list(xs)
    for i in range(1, len(out)):
        out[i] = max(out[i], out[i - 1] + gap)
    # A crowded evening pushed past 24:00: pull the tail back left, as far as needed.
    if out:
        out[-1] = min(out[-1], 24.0)
        for i in range(len(out) - 2, -1, -1):
            out[i] = min(out[i], out[i + 1] - gap)
    return out


def render(rows: Sequence[TimelineRow], day: date, fmt: str) -> bytes:
    """The picture as `png` or `svg` bytes."""
    import matplotlib

    fig = draw(rows, day)
    buffer = io.BytesIO()
    # Text as <text> elements, not glyph outlines, so the SVG is searchable, small and
    # embeddable in the status page with its labels intact; no date and a fixed id salt, so
    # the same day renders to the same bytes.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "panchang-timeline"}):
        fig.savefig(
            buffer,
            format=fmt,
            dpi=DPI,
            metadata={"Date": None} if fmt == "svg" else None,
        )
    return buffer.getvalue()


def timeline_svg(rows: Sequence[TimelineRow], day: date) -> str:
    """The picture as SVG text, for embedding in a page."""
    return render(rows, day, "svg").decode("utf-8")


def timeline_png(rows: Sequence[TimelineRow], day: date) -> bytes:
    return render(rows, day, "png")


def svg_for_day(session: Session, day: date, now: datetime) -> str:
    """The SVG of UTC date `day` read from the database, users counted at `now` (what a status
    page embeds)."""
    return timeline_svg(load_timeline(session, day, now), day)
