"""The send reconciler: the one recovery path for slot occurrences that did not complete.

Beat runs it every `reconcile_interval_s` and right after its start-up sync. For each of our
RedBeat entries it takes the slot's latest occurrence that is at least one interval old and
still within the grace period, and looks at that occurrence's runs in `send_run`:

- a run in progress that has not reported for longer than the claim lease is dead: mark it
  `abandoned` and queue the slot again (its claims are as old as its last report, so expired);
- a run in progress that reports is left alone;
- a complete run that met no users held by another run ends the matter;
- a complete run that did meet held users: queue again once the lease since it ended has
  passed, when those claims have expired (if their run finished them, the new run skips them);
- failed, abandoned or missed runs: queue again, the first time at once and then with a
  doubling pause, so a slot that keeps failing is not hammered every minute;
- no run at all (Beat was down, the entry was created after the send time, the task was lost):
  queue.

It reads entry names from Redis and runs of the last days from `send_run`, never the users;
the ledger makes every re-queued run send only what was not sent. A slot is not queued while
its queued marker is set (see `core.names.queued_marker_key`), so a run waiting in a backlog is
not queued again each minute.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import redis
from sqlalchemy.orm import Session, sessionmaker

from core.errors import ValidationError
from core.names import queued_marker_key
from core.settings import Settings
from delivery import runs
from delivery.local_day import Occurrence, previous_occurrence
from delivery.runs import RunState
from models import RunOutcome
from models.db import session_scope
from scheduler.slots import Slot
from scheduler.store import EntryStore

log = logging.getLogger(__name__)

# After the first immediate retry of a failed occurrence, wait this long, doubling per further
# failure, at most `MAX_BACKOFF_S`.
FIRST_BACKOFF_S = 60
MAX_BACKOFF_S = 1800

OccurrenceKey = tuple[str, str, date]  # (zone, send_time, local date)


@dataclass(frozen=True)
class Decision:
    """Runs to mark abandoned and occurrences to queue again, with the reason for each."""

    abandon: list[int] = field(default_factory=list)
    queue: list[tuple[Slot, date, str]] = field(default_factory=list)


@dataclass(frozen=True)
class ReconcileReport:
    checked: int  # occurrences within the window
    abandoned: list[int]
    queued: list[tuple[Slot, date, str]]
    already_queued: int
    runs_read: int = 0


def window(
    slots: Iterable[Slot], now: datetime, grace_s: float, settle_s: float
) -> dict[Slot, Occurrence]:
    """Each slot's latest occurrence at least `settle_s` before `now`, if within `grace_s`.

    `settle_s` leaves Beat's own run time to start and record itself before anyone calls the
    occurrence unserved.
    """
    found = {}
    for slot in slots:
        occ = previous_occurrence(slot.zone, slot.send_time, now - timedelta(seconds=settle_s))
        if (now - occ.instant).total_seconds() <= grace_s:
            found[slot] = occ
    return found


def decide(
    occurrences: Mapping[Slot, Occurrence],
    runs_by_occurrence: Mapping[OccurrenceKey, list[RunState]],
    now: datetime,
    lease_s: float,
) -> Decision:
    """Pure: what to abandon and what to queue (see the module docstring for the rules)."""
    decision = Decision()
    stale_before = now - timedelta(seconds=lease_s)
    for slot, occ in sorted(occurrences.items()):
        found = runs_by_occurrence.get((slot.zone, slot.send_time, occ.local_date), [])
        in_progress = [r for r in found if r.outcome is None]
        stale = [r.id for r in in_progress if r.last_report < stale_before]
        if stale:
            decision.abandon.extend(stale)
            decision.queue.append((slot, occ.local_date, f"run {stale[0]} stopped reporting"))
            continue
        if in_progress:
            continue
        reason = _why_again(found, now, lease_s)
        if reason:
            decision.queue.append((slot, occ.local_date, reason))
    return decision


def _why_again(found: list[RunState], now: datetime, lease_s: float) -> str | None:
    """Why a finished (or never started) occurrence must run again now; None when it must not."""
    if not found:
        return "no run"
    complete = [r for r in found if r.outcome == RunOutcome.COMPLETE.value]
    if any(r.held == 0 for r in complete):
        return None
    latest = max(found, key=lambda r: (r.finished_at or r.last_report, r.id))
    ended = latest.finished_at or latest.last_report
    if latest.outcome == RunOutcome.COMPLETE.value:
        if (now - ended).total_seconds() >= lease_s:
            return f"run {latest.id} left {latest.held} users held by another run"
        return None
    failures = sum(1 for r in found if r.outcome != RunOutcome.COMPLETE.value)
    pause = 0 if failures <= 1 else min(FIRST_BACKOFF_S * 2 ** (failures - 2), MAX_BACKOFF_S)
    if (now - ended).total_seconds() >= pause:
        return f"run {latest.id} ended {latest.outcome}"
    return None


def reconcile(
    sessions: sessionmaker[Session],
    client: redis.Redis,
    settings: Settings,
    now: datetime,
    queue: Callable[[Slot, date], None],
) -> ReconcileReport:
    """Abandon dead runs and queue again what `decide` says, via `queue(slot, local_date)`."""
    slots = _slots(EntryStore(client, settings))
    occurrences = window(slots, now, settings.late_grace_s, settings.reconcile_interval_s)
    if not occurrences:
        return ReconcileReport(0, [], [], 0, 0)
    first = min(occ.local_date for occ in occurrences.values())
    with session_scope(sessions) as session:
        states = runs.run_states_since(session, first)
    decision = decide(occurrences, states, now, settings.claim_lease_s)
    abandoned: list[int] = []
    if decision.abandon:
        with session_scope(sessions) as session:
            abandoned = runs.abandon(
                session, decision.abandon, now - timedelta(seconds=settings.claim_lease_s), now
            )
        for run_id in abandoned:
            log.warning(
                "reconcile: run %s abandoned (no progress for %s s)", run_id, settings.claim_lease_s
            )
    queued: list[tuple[Slot, date, str]] = []
    skipped = 0
    for slot, day, reason in decision.queue:
        # SET NX: of two reconcilers (or Beat and one) only one queues the slot.
        if client.set(
            queued_marker_key(*slot), day.isoformat(), nx=True, ex=settings.claim_lease_s
        ):
            queue(slot, day)
            queued.append((slot, day, reason))
            log.warning(
                "reconcile: queued %s@%s for %s (%s)", slot.zone, slot.send_time, day, reason
            )
        else:
            skipped += 1
    runs_read = sum(len(found) for found in states.values())
    return ReconcileReport(len(occurrences), abandoned, queued, skipped, runs_read)


def _slots(store: EntryStore) -> list[Slot]:
    found = []
    for name in store.names():
        try:
            found.append(Slot.from_entry_name(name, store.settings.entry_prefix))
        except ValidationError:
            continue  # `panchang entries` shows it; the sync rewrites or deletes it
    return found
