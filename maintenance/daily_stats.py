"""The daily report: each finished local date's sends rolled into `daily_stats`, and read back.

A local date is *finished* in a zone once it has ended there (midnight starting the next date,
in that zone) plus the late grace `PANCHANG_LATE_GRACE_S`: by then every run of that date has
sent, or been recorded missed, in any slot, so its counts no longer move, apart from WhatsApp's
`delivered` and `read` webhooks, which may come hours later. The rollup therefore rewrites a
(zone, local date) every time it runs during the day after it finished (`REFRESH_S`), and leaves
it alone after that. Each (zone, local date) is replaced in one transaction (delete, insert), so
running the rollup twice gives the same rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from models import DailyStat, Delivery, SendRun, StatKind

# A finished date is rewritten on every rollup for this long after it finished, so late
# `delivered`/`read` statuses reach the stats; after it, the rows stay as they are.
REFRESH_S = 86400
# How far back the rollup looks for dates it has not rolled up (Beat or the workers were down).
LOOKBACK_DAYS = 7
# A run that never recorded an outcome (its process died and nobody abandoned it).
NO_OUTCOME = "running"


def finished_at(zone: str, local_date: date, late_grace_s: int) -> datetime:
    """The UTC instant at which `local_date` counts as finished in `zone`."""
    # fold=0: a midnight inside a DST gap (a few zones change at 00:00) maps one gap later.
    end = datetime.combine(local_date + timedelta(days=1), time(0), tzinfo=ZoneInfo(zone))
    return end.astimezone(UTC) + timedelta(seconds=late_grace_s)


def due_for_rollup(
    candidates: Iterable[tuple[str, date]],
    rolled_up: set[tuple[str, date]],
    now: datetime,
    late_grace_s: int,
) -> list[tuple[str, date]]:
    """The (zone, local date) pairs to roll up now: finished, and either never rolled up or
    finished less than `REFRESH_S` ago."""
    due = []
    for zone, local_date in sorted(set(candidates)):
        finished = finished_at(zone, local_date, late_grace_s)
        if finished > now:
            continue
        if (zone, local_date) not in rolled_up or (now - finished).total_seconds() < REFRESH_S:
            due.append((zone, local_date))
    return due


@dataclass
class RollupReport:
    rolled_up: list[tuple[str, date]] = field(default_factory=list)
    rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "rolled_up": [f"{zone} {day.isoformat()}" for zone, day in self.rolled_up],
            "rows": self.rows,
        }


def rollup(sessions: sessionmaker[Session], now: datetime, late_grace_s: int) -> RollupReport:
    """Roll every due (zone, local date) of the last `LOOKBACK_DAYS` into `daily_stats`.

    Candidates come from `send_run`: every local date with ledger rows has a run (rows are
    made by runs), and an occurrence nobody sent has a `missed` run.
    """
    since = now.astimezone(UTC).date() - timedelta(days=LOOKBACK_DAYS)
    with sessions() as session:
        candidates = session.execute(
            select(SendRun.timezone, SendRun.local_date)
            .where(SendRun.local_date >= since)
            .distinct()
        ).all()
        rolled = session.execute(
            select(DailyStat.timezone, DailyStat.local_date)
            .where(DailyStat.local_date >= since)
            .distinct()
        ).all()
    due = due_for_rollup(
        [(z, d) for z, d in candidates], {(z, d) for z, d in rolled}, now, late_grace_s
    )
    report = RollupReport()
    for zone, local_date in due:
        report.rows += _rollup_one(sessions, zone, local_date, now)
        report.rolled_up.append((zone, local_date))
    return report


def _rollup_one(sessions: sessionmaker[Session], zone: str, local_date: date, now: datetime) -> int:
    """Replace the stats of (`zone`, `local_date`) in one transaction; the rows written."""
    with sessions.begin() as session:
        statuses = session.execute(
            select(Delivery.send_time, Delivery.status, func.count())
            .where(Delivery.timezone == zone, Delivery.local_date == local_date)
            .group_by(Delivery.send_time, Delivery.status)
        ).all()
        outcomes = session.execute(
            select(SendRun.send_time, SendRun.outcome, func.count())
            .where(SendRun.timezone == zone, SendRun.local_date == local_date)
            .group_by(SendRun.send_time, SendRun.outcome)
        ).all()
        rows = [
            {"send_time": t, "kind": StatKind.STATUS.value, "value": s, "count": n}
            for t, s, n in statuses
        ] + [
            {"send_time": t, "kind": StatKind.RUN.value, "value": o or NO_OUTCOME, "count": n}
            for t, o, n in outcomes
        ]
        session.execute(
            delete(DailyStat).where(DailyStat.timezone == zone, DailyStat.local_date == local_date)
        )
        if rows:
            session.execute(
                insert(DailyStat),
                [
                    {**row, "local_date": local_date, "timezone": zone, "rolled_up_at": now}
                    for row in rows
                ],
            )
    return len(rows)


# --- Reading it back -------------------------------------------------------------------------


@dataclass(frozen=True)
class SlotDay:
    """One slot's counts on one local date."""

    local_date: date
    timezone: str
    send_time: str
    statuses: dict[str, int]
    runs: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "local_date": self.local_date.isoformat(),
            "timezone": self.timezone,
            "send_time": self.send_time,
            "total": self.total,
            "statuses": dict(sorted(self.statuses.items())),
            "runs": dict(sorted(self.runs.items())),
        }


def read_stats(session: Session, first: date, last: date) -> list[SlotDay]:
    """The stats of local dates `first` to `last` (inclusive), by date, zone and send time."""
    found = session.execute(
        select(
            DailyStat.local_date,
            DailyStat.timezone,
            DailyStat.send_time,
            DailyStat.kind,
            DailyStat.value,
            DailyStat.count,
        ).where(DailyStat.local_date >= first, DailyStat.local_date <= last)
    ).all()
    slots: dict[tuple[date, str, str], tuple[dict[str, int], dict[str, int]]] = defaultdict(
        lambda: ({}, {})
    )
    for local_date, zone, send_time, kind, value, count in found:
        statuses, runs = slots[(local_date, zone, send_time)]
        (statuses if kind == StatKind.STATUS.value else runs)[value] = count
    return [
        SlotDay(d, z, t, statuses, runs) for (d, z, t), (statuses, runs) in sorted(slots.items())
    ]


# --- The weekly summary (pure) ---------------------------------------------------------------


@dataclass(frozen=True)
class WorstSlot:
    timezone: str
    send_time: str
    total: int
    failed: int
    missed: int

    @property
    def failure_ratio(self) -> float:
        return self.failed / self.total if self.total else 0.0


@dataclass(frozen=True)
class WeekSummary:
    iso_week: str
    first: date
    last: date
    statuses: dict[str, int]
    runs: dict[str, int]
    worst: list[WorstSlot]
    # (zone, local date) pairs of the week with runs but no stats yet: not finished when the
    # summary was made (Sunday in zones west of UTC ends after Monday 09:00 UTC, plus grace).
    unfinished: int = 0

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    def title(self) -> str:
        return f"panchang weekly summary {self.iso_week}: {self.total} messages"

    def body(self) -> str:
        def counts(values: dict[str, int]) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(values.items())) or "none"

        lines = [
            f"Local dates {self.first.isoformat()} to {self.last.isoformat()}.",
            f"Messages by status: {counts(self.statuses)}.",
            f"Runs by outcome: {counts(self.runs)}.",
        ]
        if self.worst:
            lines.append("Worst slots (final failures, missed occurrences):")
            lines += [
                f"- {w.timezone}@{w.send_time}: {w.failed} of {w.total} failed "
                f"({w.failure_ratio:.1%}), {w.missed} missed"
                for w in self.worst
            ]
        else:
            lines.append("No slot had a final failure or a missed occurrence.")
        if self.unfinished:
            lines.append(
                f"{self.unfinished} zone-day(s) of the week had not finished yet and are not "
                f"counted; `panchang report --week {self.iso_week}` shows them later."
            )
        return "\n".join(lines)


def iso_week_name(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def summarise_week(
    days: Sequence[SlotDay], first: date, worst: int = 5, unfinished: int = 0
) -> WeekSummary:
    """Totals per status and outcome over `days`, and the `worst` slots: most missed
    occurrences first, then the highest share of final failures; slots with neither are not
    listed."""
    statuses: dict[str, int] = defaultdict(int)
    runs: dict[str, int] = defaultdict(int)
    per_slot: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for day in days:
        for key, n in day.statuses.items():
            statuses[key] += n
        for key, n in day.runs.items():
            runs[key] += n
        slot = per_slot[(day.timezone, day.send_time)]
        slot[0] += day.total
        slot[1] += day.statuses.get("failed", 0)
        slot[2] += day.runs.get("missed", 0)
    candidates = [
        WorstSlot(zone, send_time, total, failed, missed)
        for (zone, send_time), (total, failed, missed) in per_slot.items()
        if failed or missed
    ]
    ranked = sorted(
        candidates,
        key=lambda w: (-w.missed, -w.failure_ratio, -w.failed, w.timezone, w.send_time),
    )
    return WeekSummary(
        iso_week_name(first), first, first + timedelta(days=6), dict(statuses), dict(runs),
        ranked[:worst], unfinished,
    )  # fmt: skip


def week_summary(session: Session, first: date) -> WeekSummary:
    """The summary of the ISO week starting on Monday `first`, from `daily_stats`."""
    last = first + timedelta(days=6)
    with_runs = session.execute(
        select(SendRun.timezone, SendRun.local_date)
        .where(SendRun.local_date >= first, SendRun.local_date <= last)
        .distinct()
    ).all()
    rolled = session.execute(
        select(DailyStat.timezone, DailyStat.local_date)
        .where(DailyStat.local_date >= first, DailyStat.local_date <= last)
        .distinct()
    ).all()
    unfinished = len({(z, d) for z, d in with_runs} - {(z, d) for z, d in rolled})
    return summarise_week(read_stats(session, first, last), first, unfinished=unfinished)


def last_iso_week(now: datetime) -> date:
    """The Monday of the ISO week before the one `now` (UTC) is in."""
    today = now.astimezone(UTC).date()
    return today - timedelta(days=today.weekday() + 7)
