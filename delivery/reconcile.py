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
- a halted run (WhatsApp said our set-up is broken): not queued, since every request would
  fail the same way and burn quota; after the fix, `panchang send-now` sends the rest;
- no run at all (Beat was down, the entry was created after the send time, the task was lost):
  queue.

It also closes the books: when an occurrence has left the grace period (the slot's latest
occurrence more than the grace ago) without a complete run, its silent runs are marked
`abandoned` and a `missed` run is recorded for it, once, so every occurrence of a slot ends as
`complete` or `missed` and a morning nobody served shows up in `panchang runs` (unless the
entry did not exist yet at that time: a slot created at 09:00 has not missed its 06:30). The
occurrence's ledger rows still pending then become dead letters (`panchang failures`).

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
from core.names import missed_marker_key, queued_marker_key
from core.settings import Settings
from delivery import ledger, runs
from delivery.local_day import Occurrence, previous_occurrence
from delivery.runs import RunState, Worker
from models import RunOutcome, RunTrigger
from models.db import session_scope
from scheduler.slots import Slot
from scheduler.store import EntryStore, StoredEntry

log = logging.getLogger(__name__)

# After the first immediate retry of a failed occurrence, wait this long, doubling per further
# failure, at most `MAX_BACKOFF_S`.
FIRST_BACKOFF_S = 60
MAX_BACKOFF_S = 1800
# Longer than an occurrence can stay a candidate (about a day past its grace).
MISSED_MARKER_TTL_S = 3 * 86400

OccurrenceKey = tuple[str, str, date]  # (zone, send_time, local date)


@dataclass(frozen=True)
class Decision:
    """Runs to mark abandoned, occurrences to queue again (with the reason for each), and
    occurrences past their grace with no complete run (to record as missed)."""

    abandon: list[int] = field(default_factory=list)
    queue: list[tuple[Slot, date, str]] = field(default_factory=list)
    missed: list[tuple[Slot, Occurrence]] = field(default_factory=list)


@dataclass(frozen=True)
class ReconcileReport:
    checked: int  # occurrences within the window
    abandoned: list[int]
    queued: list[tuple[Slot, date, str]]
    already_queued: int
    runs_read: int = 0
    missed: list[tuple[Slot, date]] = field(default_factory=list)


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


def expired(slots: Iterable[Slot], now: datetime, grace_s: float) -> dict[Slot, Occurrence]:
    """Each slot's latest occurrence more than `grace_s` before `now`: nothing reruns it."""
    before = now - timedelta(seconds=grace_s)
    return {slot: previous_occurrence(slot.zone, slot.send_time, before) for slot in slots}


def decide(
    occurrences: Mapping[Slot, Occurrence],
    runs_by_occurrence: Mapping[OccurrenceKey, list[RunState]],
    now: datetime,
    lease_s: float,
    past: Mapping[Slot, Occurrence] | None = None,
) -> Decision:
    """Pure: what to abandon, queue and record as missed (see the module docstring).

    `occurrences` are those within grace (`window`), `past` those beyond it (`expired`).
    """
    decision = Decision()
    stale_before = now - timedelta(seconds=lease_s)
    for slot, occ in sorted((past or {}).items()):
        found = runs_by_occurrence.get((slot.zone, slot.send_time, occ.local_date), [])
        if any(r.outcome in (RunOutcome.COMPLETE.value, RunOutcome.MISSED.value) for r in found):
            continue
        in_progress = [r for r in found if r.outcome is None]
        decision.abandon.extend(r.id for r in in_progress if r.last_report < stale_before)
        if all(r.last_report < stale_before for r in in_progress):
            decision.missed.append((slot, occ))
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
    if latest.outcome == RunOutcome.HALTED.value:
        return None
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
    """Abandon dead runs, queue again what `decide` says via `queue(slot, local_date)`, and
    record missed the occurrences that left their grace unserved."""
    store = EntryStore(client, settings)
    slots = _slots(store)
    if not slots:
        return ReconcileReport(0, [], [], 0, 0)
    occurrences = window(slots, now, settings.late_grace_s, settings.reconcile_interval_s)
    past = expired(slots, now, settings.late_grace_s)
    first = min(occ.local_date for occ in [*occurrences.values(), *past.values()])
    with session_scope(sessions) as session:
        states = runs.run_states_since(session, first)
    decision = decide(occurrences, states, now, settings.claim_lease_s, past)
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
    missed = _record_missed(sessions, client, store, decision.missed, now)
    runs_read = sum(len(found) for found in states.values())
    return ReconcileReport(len(occurrences), abandoned, queued, skipped, runs_read, missed)


def existed_at(entry: StoredEntry | None, instant: datetime) -> bool:
    """Whether the entry was in Redis at `instant`: by the time the sync created it. An entry
    from before that field was kept is judged by its meta: the sync dates a new entry's last
    run at its creation, so one Beat never fired came into being at `last_run_at`; one Beat
    fired, or whose last run is unknown, is given the benefit."""
    if entry is None:
        return False
    if entry.created_at is not None:
        return entry.created_at <= instant
    return entry.fired or entry.last_run_at is None or entry.last_run_at <= instant


def _record_missed(
    sessions: sessionmaker[Session],
    client: redis.Redis,
    store: EntryStore,
    candidates: list[tuple[Slot, Occurrence]],
    now: datetime,
) -> list[tuple[Slot, date]]:
    if not candidates:
        return []
    prefix = store.settings.entry_prefix
    stored = store.read(slot.entry_name(prefix) for slot, _ in candidates)
    recorded = []
    for slot, occ in candidates:
        if not existed_at(stored.get(slot.entry_name(prefix)), occ.instant):
            continue
        # SET NX: two reconcilers at once record an occurrence once.
        marker = missed_marker_key(slot.zone, slot.send_time, occ.local_date.isoformat())
        if not client.set(marker, "1", nx=True, ex=MISSED_MARKER_TTL_S):
            continue
        with session_scope(sessions) as session:
            run_id = runs.start_run(
                session, slot.zone, slot.send_time, occ.local_date, now, RunTrigger.RECONCILE,
                Worker.here(),
            )  # fmt: skip
            runs.end_run(
                session, run_id, RunOutcome.MISSED, now,
                "no run completed within the grace period",
            )  # fmt: skip
            ledger.close_unsent(session, slot.zone, slot.send_time, occ.local_date, now)
        recorded.append((slot, occ.local_date))
        log.error(
            "reconcile: %s@%s for %s missed: no run completed within the grace period",
            slot.zone, slot.send_time, occ.local_date,
        )  # fmt: skip
    return recorded


def _slots(store: EntryStore) -> list[Slot]:
    found = []
    for name in store.names():
        try:
            found.append(Slot.from_entry_name(name, store.settings.entry_prefix))
        except ValidationError:
            continue  # `panchang entries` shows it; the sync rewrites or deletes it
    return found
