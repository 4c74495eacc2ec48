"""The JIT planner's day, event by event, with or without one fault (pure; no I/O).

The planner's decisions are `bench.jit_app`'s own (`due_soon` and the lock per slot and date).
The rest is how Celery and kombu treat its countdown tasks, each shown with real processes by
`bench/jit_planner.py --part verify`:
- a countdown task waits, unacknowledged, in the memory of the worker that fetched it until it
  is due;
- when that worker's broker connection drops (Redis restarted, a Sentinel failover), Celery's
  consumer clears its timer and forgets the tasks it holds; kombu hands them out again only
  after the 24 h visibility timeout, so they are lost for the day;
- a worker killed loses them the same way, and the rest of the task it was running, which was
  acknowledged when it started (Celery's default);
- FLUSHALL empties the locks but not the worker's memory: a later planner run whose window
  still holds a queued slot takes the lock again and queues it again, and both tasks run;
- a planner run while Redis or PostgreSQL is down queues nothing, and nothing runs it again;
- a send task that runs while PostgreSQL is down fails, and nothing retries it;
- a Beat that is down for a while runs the planner once when it is back (the stock scheduler
  runs an overdue entry at once), then every 600 s from then.
One worker holds every countdown, as in the fault tests' stack; it sends one message after
another at `rate_per_s` (the 1,000/s tier), which only matters when it is killed mid-send.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bench.jit_app import PLAN_INTERVAL_S, Queued, due_soon
from delivery.local_day import occurrence_on
from scheduler.slots import Slot

FAULT_KINDS = ("flush", "redis_down", "postgres_down", "beat_down", "worker_killed")
Occurrence = tuple[Slot, date]


@dataclass(frozen=True)
class Fault:
    """`kind` (one of FAULT_KINDS) starting at `at` (aware UTC) and lasting `duration_s`."""

    kind: str
    at: datetime
    duration_s: float = 0.0

    def active(self, instant: datetime) -> bool:
        return self.at <= instant < self.at + timedelta(seconds=self.duration_s)


@dataclass
class Day:
    """What happened to the occurrences due in [start, end)."""

    occurrences: int = 0
    users: int = 0
    lost_users: float = 0.0
    lost_slots: int = 0
    duplicated_users: float = 0.0
    duplicated_slots: int = 0
    planner_runs: int = 0
    queued: list[Queued] = field(default_factory=list)

    @property
    def held_total_s(self) -> float:
        """Task-seconds spent waiting in a worker's memory for a countdown."""
        return sum(q.countdown_s for q in self.queued)

    @property
    def held_peak(self) -> int:
        """Most countdown tasks waiting at one moment."""
        edges = sorted(
            [(q.planned_at, 1) for q in self.queued] + [(q.eta, -1) for q in self.queued],
            key=lambda e: (e[0], e[1]),  # a task that fires leaves before one queued then
        )
        peak = held = 0
        for _, step in edges:
            held += step
            peak = max(peak, held)
        return peak


def occurrences_between(
    slots: Mapping[Slot, int], start: datetime, end: datetime
) -> dict[Occurrence, datetime]:
    """Every slot occurrence whose instant is in [start, end)."""
    found: dict[Occurrence, datetime] = {}
    for slot in slots:
        zone = ZoneInfo(slot.zone)
        first = start.astimezone(zone).date() - timedelta(days=1)
        last = end.astimezone(zone).date() + timedelta(days=1)
        day = first
        while day <= last:
            at = occurrence_on(slot.zone, slot.send_time, day)
            if start <= at < end:
                found[(slot, day)] = at
            day += timedelta(days=1)
    return found


def planner_runs(start: datetime, end: datetime, phase_s: float) -> Iterator[datetime]:
    """Every 600 s at `phase_s` past each ten minutes (of a `start` on the hour), from 30
    minutes before `start`, so that the runs before it have queued what is due early on."""
    t = start - timedelta(seconds=3 * PLAN_INTERVAL_S - phase_s)
    while t < end:
        yield t
        t += timedelta(seconds=PLAN_INTERVAL_S)


def simulate(
    slots: Mapping[Slot, int],
    start: datetime,
    end: datetime,
    phase_s: float = 0.0,
    fault: Fault | None = None,
    rate_per_s: float = 1000.0,
) -> Day:
    """The JIT planner over [start, end) with users per slot `slots`, its Beat ticking at
    `phase_s`, and `fault`."""
    due = occurrences_between(slots, start, end)
    # Events: (when, order, kind, payload). Order breaks ties: a fault first, then tasks
    # that are due, then a planner run (which only looks strictly ahead).
    events: list[tuple[datetime, int, str, object]] = []
    for run_at in planner_runs(start, end, phase_s):
        events.append((run_at, 2, "plan", None))
    if fault is not None:
        events.append((fault.at, 0, "fault", None))
    heapq.heapify(events)

    locks: set[Occurrence] = set()
    held: dict[int, Queued] = {}  # task number -> task, while in a worker's memory
    delivered: dict[Occurrence, float] = defaultdict(float)  # runs' worth of users reached
    sending: list[tuple[Occurrence, datetime, datetime]] = []  # (occurrence, from, to)
    free_at = start - timedelta(days=1)  # when the worker's sender is next idle
    beat_back: datetime | None = None
    numbers = iter(range(10**9))
    day = Day()

    while events:
        when, _, kind, payload = heapq.heappop(events)
        if when >= end:
            break
        if kind == "fault":
            assert fault is not None
            if fault.kind == "flush":
                locks.clear()
            elif fault.kind in ("redis_down", "worker_killed"):
                held.clear()  # the worker forgets its countdowns; kombu keeps them for 24 h
            if fault.kind == "worker_killed":
                for occ, began, done in sending:
                    if done > when:
                        part = (done - max(began, when)) / (done - began)
                        delivered[occ] -= part
                sending.clear()
                free_at = when  # compose starts a fresh worker, with nothing to send
            if fault.kind == "beat_down":
                beat_back = when + timedelta(seconds=fault.duration_s)
            continue
        if kind == "plan":
            if beat_back is not None and fault is not None and fault.active(when):
                # The first overdue run happens when Beat is back, then every 600 s from it.
                events = [e for e in events if e[2] != "plan"]
                heapq.heapify(events)
                t = beat_back
                while t < end:
                    heapq.heappush(events, (t, 2, "plan", None))
                    t += timedelta(seconds=PLAN_INTERVAL_S)
                beat_back = None
                continue
            outage = fault is not None and fault.kind in ("redis_down", "postgres_down")
            if outage and fault is not None and fault.active(when):
                continue
            if when >= start:
                day.planner_runs += 1
            for slot, local_date, at in due_soon(slots, when):
                if (slot, local_date) in locks:
                    continue
                locks.add((slot, local_date))
                task = Queued(slot, local_date, when, at)
                number = next(numbers)
                held[number] = task
                heapq.heappush(events, (at, 1, "task", number))
                if (slot, local_date) in due:
                    day.queued.append(task)
            continue
        # A countdown task is due.
        assert isinstance(payload, int)
        task = held.pop(payload, None)
        if task is None:
            continue  # dropped from the worker's memory
        if fault is not None and fault.kind == "postgres_down" and fault.active(when):
            continue  # it cannot read the users; no retry
        occ = (task.slot, task.local_date)
        users = slots[task.slot]
        began = max(when, free_at)
        free_at = began + timedelta(seconds=users / rate_per_s)
        sending.append((occ, began, free_at))
        delivered[occ] += 1.0

    for occ in due:
        users = slots[occ[0]]
        day.occurrences += 1
        day.users += users
        got = delivered.get(occ, 0.0)
        if got < 1.0 - 1e-9:
            day.lost_slots += 1
            day.lost_users += users * (1.0 - max(got, 0.0))
        if got > 1.0 + 1e-9:
            day.duplicated_slots += 1
            day.duplicated_users += users * (got - 1.0)
    return day
