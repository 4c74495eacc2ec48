"""The JIT planner of bench/jit_planner.py: the re-implementation of the old system behaves as
the old system did, so the side-by-side in BENCHMARKS.md compares against the real thing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import redis
from sqlalchemy.orm import Session, sessionmaker

from bench.jit_app import lock_key, plan
from bench.jit_model import Fault, occurrences_between, simulate
from scheduler.slots import Slot
from tests.helpers import add_users

KOLKATA = Slot("Asia/Kolkata", "06:30")
FIRE = datetime(2026, 3, 14, 1, 0, tzinfo=UTC)  # 06:30 in Kolkata
# Real zones on the days their clocks change, with wall times in the gap and the overlap.
SLOTS = {
    Slot("America/New_York", "02:30"): 40,  # in the spring-forward gap on 2026-03-08
    Slot("America/New_York", "01:30"): 30,  # twice on 2026-11-01
    Slot("Europe/London", "01:30"): 20,  # in the gap on 2026-03-29, twice on 2026-10-25
    Slot("Australia/Lord_Howe", "02:00"): 7,  # a 30-minute change
    Slot("Asia/Kathmandu", "06:30"): 11,
    Slot("Pacific/Chatham", "06:30"): 3,
    Slot("America/St_Johns", "06:30"): 5,
    KOLKATA: 500,
}


def test_the_planner_queues_a_slot_once_with_a_countdown_and_again_once_its_lock_is_gone(
    sessions: sessionmaker[Session], redis_client: redis.Redis
) -> None:
    add_users(sessions, KOLKATA.zone, KOLKATA.send_time, 3)
    countdowns: list[tuple[Slot, float]] = []

    def queue(slot: Slot, countdown_s: float) -> None:
        countdowns.append((slot, countdown_s))

    early = plan(sessions, redis_client, queue, FIRE - timedelta(minutes=20))
    first = plan(sessions, redis_client, queue, FIRE - timedelta(minutes=10))
    again = plan(sessions, redis_client, queue, FIRE - timedelta(minutes=1))
    assert (early, again) == ([], [])
    assert [(q.slot, q.local_date, q.eta) for q in first] == [(KOLKATA, FIRE.date(), FIRE)]
    assert countdowns == [(KOLKATA, 600.0)]
    assert 86000 < redis_client.ttl(lock_key(KOLKATA, FIRE.date())) <= 86400

    # What FLUSHALL does to it: the lock is gone while the first task still waits.
    redis_client.flushall()
    doubled = plan(sessions, redis_client, queue, FIRE - timedelta(seconds=30))
    assert [q.slot for q in doubled] == [KOLKATA]
    assert countdowns[-1] == (KOLKATA, 30.0)


def test_the_planner_serves_every_occurrence_once_on_dst_change_days_at_any_beat_phase() -> None:
    for day in (date(2026, 3, 8), date(2026, 3, 29), date(2026, 10, 4), date(2026, 11, 1)):
        start = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=14)
        end = start + timedelta(hours=52)
        due = occurrences_between(SLOTS, start, end)
        assert len(due) >= 2 * len(SLOTS)
        for phase_s in range(0, 600, 45):
            run = simulate(SLOTS, start, end, phase_s)
            assert (run.lost_users, run.duplicated_users) == (0, 0), (day, phase_s)
            assert sorted((q.slot, q.local_date) for q in run.queued) == sorted(due)
            assert all(q.eta == due[(q.slot, q.local_date)] for q in run.queued)
            assert all(0 < q.countdown_s <= 900 for q in run.queued)


def test_a_redis_restart_loses_every_countdown_the_worker_held_and_nothing_else() -> None:
    start = FIRE - timedelta(hours=1)
    end = FIRE + timedelta(hours=1)
    fault = Fault("redis_down", FIRE - timedelta(seconds=10), 120)
    for phase_s in (0, 200, 590):
        run = simulate(SLOTS, start, end, phase_s, fault)
        held = [
            q
            for q in simulate(SLOTS, start, end, phase_s).queued
            if q.planned_at < fault.at < q.eta
        ]
        assert held, phase_s
        assert run.lost_users == sum(SLOTS[q.slot] for q in held)
        assert run.duplicated_users == 0


def test_a_flush_between_two_planner_runs_sends_the_slot_both_windows_hold_twice() -> None:
    start, end = FIRE - timedelta(hours=1), FIRE + timedelta(hours=1)
    # Runs at 00:46 and 00:56 both hold 01:00 in their 15-minute window; the flush in between
    # frees the lock, so both queue it.
    run = simulate(SLOTS, start, end, 360, Fault("flush", FIRE - timedelta(minutes=7)))
    assert run.duplicated_users == SLOTS[KOLKATA]
    assert run.lost_users == 0
