"""The day's timeline: every slot occurrence that fires within one UTC date, and what its runs did.

A UTC date is not any zone's local date. A slot fires once per *local* date, and the local
dates whose send time lands inside UTC date D are D-1, D and D+1 (zones run from UTC-12 to
UTC+14): Pacific/Kiritimati's (+14) 06:30 of March 9 is 16:30 UTC on March 8, Pacific/Pago_Pago's
(-11) 18:00 of March 7 is 05:00 UTC on March 8. So the timeline of D is defined as *the
occurrences whose UTC instant falls within D* (00:00 inclusive to 24:00 exclusive), each with the
local date it serves; a slot can appear with a local date before or after D, and a slot whose
send time shifts across midnight UTC with DST can appear zero or two times on a day.

`timeline_rows` is pure (slots with user counts, runs, date -> rows); `load_timeline` reads
those inputs from the database. Drawing is in `ops.timeline_chart`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import validate
from delivery.local_day import local_today, occurrence_on
from models import RunOutcome, SendRun
from scheduler.slots import Slot

_ONE_DAY = timedelta(days=1)

# A slot occurrence with no run on record (it may be later today, or nothing ever ran it).
NOT_RUN = "not run"
# A run on record without an outcome yet: its batches are still going (or it died and the
# reconciler has not yet called it abandoned).
RUNNING = "running"
# Every status a row can have, in the order legends and docs list them.
STATUSES = (
    RunOutcome.COMPLETE.value,
    RunOutcome.MISSED.value,
    RunOutcome.FAILED.value,
    RunOutcome.HALTED.value,
    RunOutcome.ABANDONED.value,
    RUNNING,
    NOT_RUN,
)


@dataclass(frozen=True)
class RunSeen:
    """What the timeline needs of one `send_run` row."""

    zone: str
    send_time: str
    local_date: date
    outcome: str | None
    started_at: datetime
    id: int = 0


@dataclass(frozen=True)
class TimelineRow:
    """One occurrence of a slot within the UTC date.

    `local_time` is the wall time it really fires at: the send time, except when that wall time
    does not exist on `local_date` (a spring-forward gap), where it fires as Beat's crontab
    does, one gap-length later (02:30 in New York on 2026-03-08 fires at 03:30 EDT).
    """

    utc: datetime
    zone: str
    send_time: str
    local_date: date
    local_time: str
    utc_offset: str
    users: int
    status: str
    runs: int

    @property
    def label(self) -> str:
        return f"{self.zone} {self.send_time}"

    def day_shift(self, day: date) -> int:
        """-1, 0 or +1: the local date against the UTC date of the timeline."""
        return (self.local_date - day).days

    def to_dict(self) -> dict[str, Any]:
        return {
            "utc": self.utc.isoformat(),
            "zone": self.zone,
            "send_time": self.send_time,
            "local_date": self.local_date.isoformat(),
            "local_time": self.local_time,
            "utc_offset": self.utc_offset,
            "users": self.users,
            "status": self.status,
            "runs": self.runs,
        }


def occurrences_within(zone: str, send_time: str, day: date) -> list[tuple[date, datetime]]:
    """(local date, UTC instant) of each occurrence of the slot whose instant is within `day`.

    Zero, one or two: a slot near midnight UTC whose offset changes that night can fire twice on
    one UTC date or skip it. A local date the zone never had (Pacific/Apia skipped 2011-12-30)
    owns no occurrence: its wall time maps onto the next date's, as in `delivery.local_day`.
    """
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    end = start + _ONE_DAY
    found = []
    for local_date in (day - _ONE_DAY, day, day + _ONE_DAY):
        instant = occurrence_on(zone, send_time, local_date)
        if start <= instant < end and local_today(zone, instant) == local_date:
            found.append((local_date, instant))
    return found


def occurrence_status(runs: Iterable[RunSeen]) -> str:
    """The status of one occurrence from its runs.

    `complete` when any run completed (a later `send-now` that found nothing to do cannot
    undo that); otherwise the latest run's outcome, `running` while it has none, and `not run`
    without runs. The latest, not the worst: a failed run followed by a complete rerun is the
    normal recovery, and a missed record after failures is the final word.
    """
    seen = list(runs)
    if not seen:
        return NOT_RUN
    if any(run.outcome == RunOutcome.COMPLETE.value for run in seen):
        return RunOutcome.COMPLETE.value
    latest = max(seen, key=lambda run: (run.started_at, run.id))
    return latest.outcome or RUNNING


def timeline_rows(
    slots: Mapping[Slot, int] | Mapping[tuple[str, str], int],
    runs: Iterable[RunSeen],
    day: date,
) -> list[TimelineRow]:
    """Pure: the rows of UTC date `day`, ordered by UTC instant, then zone and send time.

    `slots` maps (zone, send time) to its users. A slot that has runs for one of the day's
    local dates but no users any more (they left or moved) is still shown, with 0 users: the
    picture is of what happened as well as what will.
    """
    by_occurrence: dict[tuple[str, str, date], list[RunSeen]] = {}
    for run in runs:
        by_occurrence.setdefault((run.zone, run.send_time, run.local_date), []).append(run)
    users: dict[tuple[str, str], int] = {(zone, t): n for (zone, t), n in slots.items()}
    for zone, send_time, _local_date in by_occurrence:
        users.setdefault((zone, send_time), 0)
    rows = []
    for (zone, send_time), count in users.items():
        if not validate.is_valid_zone(zone):
            continue  # a run row written by hand with a bad zone: nothing to place on a clock
        for local_date, instant in occurrences_within(zone, send_time, day):
            local = instant.astimezone(ZoneInfo(zone))
            found = by_occurrence.get((zone, send_time, local_date), [])
            rows.append(
                TimelineRow(
                    utc=instant,
                    zone=zone,
                    send_time=send_time,
                    local_date=local_date,
                    local_time=f"{local:%H:%M}",
                    utc_offset=_offset(local),
                    users=count,
                    status=occurrence_status(found),
                    runs=len(found),
                )
            )
    rows.sort(key=lambda row: (row.utc, row.zone, row.send_time))
    return rows


def _offset(local: datetime) -> str:
    """'+05:45', '-11:00', '+13:45' (`%z` without seconds, with a colon)."""
    offset = local.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def load_timeline(session: Session, day: date, now: datetime) -> list[TimelineRow]:
    """The rows of UTC date `day`: every slot of users sendable at `now`, and every slot with a
    run for one of the local dates the day can hold (D-1 to D+1).

    Users are counted at `now`, not at each occurrence: the table keeps a user's current zone
    and send time only, so a count "as of then" could not be told apart from a guess.
    """
    from redbeat_sync import desired_slots

    # The same slots, counted the same way, as the sync keeps entries for.
    slots = desired_slots(session, now).users
    runs = [
        RunSeen(zone, send_time, local_date, outcome, started_at, run_id)
        for run_id, zone, send_time, local_date, outcome, started_at in session.execute(
            select(
                SendRun.id,
                SendRun.timezone,
                SendRun.send_time,
                SendRun.local_date,
                SendRun.outcome,
                SendRun.started_at,
            ).where(SendRun.local_date.between(day - _ONE_DAY, day + _ONE_DAY))
        )
    ]
    return timeline_rows(slots, runs, day)
