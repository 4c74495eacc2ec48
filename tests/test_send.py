"""The send path: one slot's run over the ledger, the outbox transport and the Celery task.

Every database test runs on SQLite and on Postgres (the `database_url` fixture).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import panchangam
import tasks.send  # noqa: F401  (registers the tasks the app tests look up by name)
from core import clock
from core.errors import TransportError
from core.names import SEND_TASK
from core.settings import Settings
from delivery import runs as run_records
from delivery.batch import send_batch
from delivery.message import Recipient, compose_message
from delivery.slot_run import RunSummary, plan_run, run_slot
from models import City, Delivery, RunOutcome, RunTrigger, SendBatch, SendRun, User
from models.db import session_scope
from tasks.app import create_app
from transport.base import Message, Receipt
from transport.outbox import OutboxTransport

ZONE = "Asia/Kolkata"
SLOT_TIME = "06:30"
DAY = date(2025, 3, 14)
# 06:30 in Kolkata (+05:30) on DAY.
FIRE = datetime(2025, 3, 14, 1, 0, tzinfo=UTC)
OUTBOX_KEYS = {
    "to", "timezone", "local_date", "send_time", "language", "text", "sent_at", "fields",
}  # fmt: skip


def add_users(
    sessions: sessionmaker[Session],
    count: int,
    zone: str = ZONE,
    send_time: str = SLOT_TIME,
    first: int = 0,
    obsoleted_on: datetime | None = None,
    city: str | None = None,
) -> list[str]:
    """Create `count` users of one slot; returns their phones."""
    phones = [f"+9198{first + n:08d}" for n in range(count)]
    with sessions.begin() as session:
        city_row = None
        if city is not None:
            city_row = City(name=city, latitude=12.97, longitude=77.59, timezone=zone)
            session.add(city_row)
        for phone in phones:
            session.add(
                User(
                    phone=phone,
                    timezone=zone,
                    latitude=12.97,
                    longitude=77.59,
                    send_time=send_time,
                    city=city_row,
                    created_at=FIRE - timedelta(days=30),
                    obsoleted_on=obsoleted_on,
                )
            )
    return phones


def outbox_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def send(
    sessions: sessionmaker[Session], settings: Settings, now: datetime = FIRE, **kwargs: Any
) -> RunSummary:
    """Run the slot at `now` (frozen clock) as Beat would, into the outbox unless a transport
    is given."""
    transport = kwargs.pop("transport", None) or OutboxTransport(settings.outbox_path)
    kwargs.setdefault("trigger", RunTrigger.BEAT)
    with clock.frozen(now):
        return run_slot(sessions, transport, settings, ZONE, SLOT_TIME, now, **kwargs)


def runs(sessions: sessionmaker[Session]) -> list[SendRun]:
    with sessions() as session:
        return list(session.scalars(select(SendRun).order_by(SendRun.id)))


def deliveries(sessions: sessionmaker[Session]) -> list[Delivery]:
    with sessions() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.user_id)))


class RecordingTransport:
    """Remembers every message; fails for the phones in `fail_for`."""

    concurrency = 1

    def __init__(self, fail_for: frozenset[str] = frozenset()) -> None:
        self.sent: list[Message] = []
        self.fail_for = fail_for
        self._lock = threading.Lock()

    def send(self, message: Message, halt_key: str | None = None) -> Receipt:
        if message.to in self.fail_for:
            raise TransportError(f"recipient {message.to} unreachable")
        with self._lock:
            self.sent.append(message)
        return Receipt("sent")


def test_sending_twice_in_a_day_sends_nothing_the_second_time(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    phones = add_users(sessions, 4)
    first = send(sessions, settings)
    second = send(sessions, settings, FIRE + timedelta(minutes=5))
    assert first.to_dict() == {
        "zone": ZONE, "send_time": SLOT_TIME, "local_date": "2025-03-14",
        "outcome": "complete", "sent": 4, "skipped": 0, "failed": 0, "held": 0, "run_id": 1,
        "unreachable": 0, "deferred": 0,
    }  # fmt: skip
    # Sent rows are not "held": nothing is left for a later run.
    assert (second.sent, second.skipped, second.held) == (0, 4, 0)
    assert second.outcome is RunOutcome.COMPLETE
    lines = outbox_lines(settings.outbox_path)
    assert sorted(line["to"] for line in lines) == sorted(phones)
    assert {d.status for d in deliveries(sessions)} == {"sent"}
    assert [(r.outcome, r.sent, r.skipped) for r in runs(sessions)] == [
        ("complete", 4, 0),
        ("complete", 0, 4),
    ]


def test_worker_clock_two_seconds_early_still_sends_todays_date(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    add_users(sessions, 2)
    summary = send(sessions, settings, FIRE - timedelta(seconds=2))
    assert summary.local_date == DAY
    assert {line["local_date"] for line in outbox_lines(settings.outbox_path)} == {"2025-03-14"}
    assert {d.local_date for d in deliveries(sessions)} == {DAY}


def test_run_later_than_grace_is_recorded_missed_and_sends_nothing(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    add_users(sessions, 3)
    late = FIRE + timedelta(seconds=settings.late_grace_s + 1)
    summary = send(sessions, settings, late)
    assert (summary.outcome, summary.sent, summary.local_date) == (RunOutcome.MISSED, 0, DAY)
    assert outbox_lines(settings.outbox_path) == []
    assert deliveries(sessions) == []
    [run] = runs(sessions)
    assert (run.outcome, run.local_date, run.started_at, run.finished_at) == (
        "missed", DAY, late, late,
    )  # fmt: skip


def test_inactive_users_and_users_of_other_slots_get_nothing(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    wanted = add_users(sessions, 2)
    # Unsubscribes later today: still subscribed at send time.
    wanted += add_users(sessions, 1, first=10, obsoleted_on=FIRE + timedelta(hours=2))
    add_users(sessions, 2, first=20, obsoleted_on=FIRE - timedelta(days=1))
    add_users(sessions, 2, first=30, zone="Asia/Colombo")
    add_users(sessions, 2, first=40, send_time="07:00")
    summary = send(sessions, settings)
    assert (summary.sent, summary.skipped) == (3, 0)
    assert sorted(line["to"] for line in outbox_lines(settings.outbox_path)) == sorted(wanted)
    assert len(deliveries(sessions)) == 3


def test_more_users_than_the_batch_size_each_get_exactly_one_message(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    phones = add_users(sessions, 10)
    summary = send(sessions, replace(settings, send_batch_size=3))
    assert summary.sent == 10
    assert sorted(line["to"] for line in outbox_lines(settings.outbox_path)) == sorted(phones)


def test_two_concurrent_runs_of_a_slot_send_each_user_exactly_once(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    phones = add_users(sessions, 40)
    settings = replace(settings, send_batch_size=4)
    transport = RecordingTransport()
    barrier = threading.Barrier(2)
    results: list[RunSummary] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(run_slot(sessions, transport, settings, ZONE, SLOT_TIME, FIRE))
        except BaseException as err:
            errors.append(err)

    with clock.frozen(FIRE):
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert errors == []
    assert sorted(m.to for m in transport.sent) == sorted(phones)
    assert sum(r.sent for r in results) == 40
    assert sum(r.sent + r.skipped for r in results) == 80


def test_transport_failure_for_one_user_marks_it_failed_and_the_others_still_go_out(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    phones = add_users(sessions, 3)
    transport = RecordingTransport(fail_for=frozenset({phones[1]}))
    summary = send(sessions, settings, transport=transport)
    assert (summary.sent, summary.failed, summary.outcome) == (2, 1, RunOutcome.COMPLETE)
    assert sorted(m.to for m in transport.sent) == [phones[0], phones[2]]
    rows = deliveries(sessions)
    assert [(r.status, r.attempts) for r in rows] == [("sent", 1), ("failed", 1), ("sent", 1)]
    assert rows[1].error == f"recipient {phones[1]} unreachable"
    assert runs(sessions)[0].failed == 1
    # A failed row is final for the day: a rerun does not hammer an unreachable recipient.
    rerun = send(sessions, settings, FIRE + timedelta(minutes=1), transport=transport)
    assert (rerun.sent, rerun.skipped) == (0, 3)


def test_unexpected_error_records_the_run_failed_and_frees_the_unsent_users_at_once(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    phones = add_users(sessions, 3)

    def composer(user: Recipient, local_date: date) -> Message:
        if user.phone == phones[1]:
            raise RuntimeError("composer bug")
        return compose_message(user, local_date)

    with pytest.raises(RuntimeError, match="composer bug"):
        send(sessions, settings, composer=composer)
    [run] = runs(sessions)
    assert (run.outcome, run.sent, run.error) == (
        "failed",
        1,
        "batch 0: RuntimeError: composer bug",
    )
    rows = deliveries(sessions)
    assert [d.status for d in rows] == ["sent", "pending", "pending"]
    # The failed batch released its claims: a rerun a minute later need not wait the lease.
    assert [d.claimed_by for d in rows[1:]] == [None, None]
    soon = send(sessions, settings, FIRE + timedelta(minutes=1))
    assert (soon.sent, soon.skipped, soon.held, soon.outcome) == (2, 1, 0, RunOutcome.COMPLETE)
    assert sorted(line["to"] for line in outbox_lines(settings.outbox_path)) == sorted(phones)


def test_rows_held_by_a_live_claim_are_skipped_until_the_lease_ends(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    # What a batch killed mid-send leaves: claimed rows, neither sent nor failed.
    add_users(sessions, 3)
    plan = _plan(sessions, settings)
    with session_scope(sessions) as session:
        ids = list(session.scalars(select(User.id).order_by(User.id)))
        from delivery import ledger

        ledger.ensure_rows(session, ids, DAY, ZONE, SLOT_TIME, FIRE)
        ledger.claim(session, ids[:2], DAY, FIRE, settings.claim_lease_s, "dead-attempt")
    assert plan.run_id is not None
    soon = send(sessions, settings, FIRE + timedelta(minutes=1))
    assert (soon.sent, soon.skipped, soon.held) == (1, 2, 2)
    later = send(sessions, settings, FIRE + timedelta(seconds=settings.claim_lease_s + 1))
    assert (later.sent, later.skipped, later.held) == (2, 1, 0)
    assert len(outbox_lines(settings.outbox_path)) == 3


def test_explicit_local_date_sends_even_far_from_the_send_time(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    add_users(sessions, 2)
    afternoon = FIRE + timedelta(hours=8)
    summary = send(sessions, settings, afternoon, local_date=DAY, trigger=RunTrigger.MANUAL)
    assert (summary.outcome, summary.sent) == (RunOutcome.COMPLETE, 2)
    again = send(sessions, settings, afternoon, local_date=DAY, trigger=RunTrigger.MANUAL)
    assert (again.sent, again.skipped) == (0, 2)


def test_outbox_line_carries_the_days_panchangam_for_the_users_place(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    [phone] = add_users(sessions, 1, city="Bengaluru")
    send(sessions, settings)
    [line] = outbox_lines(settings.outbox_path)
    assert set(line) == OUTBOX_KEYS
    assert line["to"] == phone
    assert (line["timezone"], line["local_date"], line["send_time"]) == (
        ZONE,
        "2025-03-14",
        "06:30",
    )
    day = panchangam.compute(DAY, 12.97, 77.59, ZONE)
    assert line["text"] == panchangam.summary_text(day, "Bengaluru")
    assert line["text"].startswith("Panchangam Fri 14 Mar 2025 - Bengaluru")
    assert line["sent_at"] == "2025-03-14T01:00:00+00:00"
    structured = panchangam.to_json_dict(day)
    assert line["fields"]["place"] == "Bengaluru"
    for key in ("sunrise", "tithi", "nakshatra", "yoga", "karana", "rahu_kalam"):
        assert line["fields"][key] == structured[key]


def test_outbox_appends_from_many_threads_without_interleaving(tmp_path: Path) -> None:
    outbox = OutboxTransport(tmp_path / "deep" / "outbox.jsonl")
    message = Message("+919800000000", ZONE, DAY, SLOT_TIME, "x" * 5000, {"n": 1})

    def burst() -> None:
        for _ in range(50):
            outbox.send(message)

    threads = [threading.Thread(target=burst) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = outbox_lines(outbox.path)
    assert len(lines) == 200
    assert all(line["text"] == "x" * 5000 for line in lines)


def test_outbox_that_cannot_be_written_raises_transport_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    outbox = OutboxTransport(blocker / "outbox.jsonl")
    with pytest.raises(TransportError, match="cannot write"):
        outbox.send(Message("+919800000000", ZONE, DAY, SLOT_TIME, "hi"))


def test_celery_task_sends_the_slot_with_the_apps_settings(
    sessions: sessionmaker[Session], settings: Settings, redis_url: str, redis_client: Any
) -> None:
    from tasks.send import send_for_timezone

    phones = add_users(sessions, 3)
    app = create_app(settings.with_redis(redis_url))
    task = app.tasks[SEND_TASK]
    assert task.name == send_for_timezone.name == "send_for_timezone"
    redis_client.set(f"panchang:queued:{ZONE}@{SLOT_TIME}", "beat")
    with clock.frozen(FIRE + timedelta(seconds=1)):
        result = task.apply(args=(ZONE, SLOT_TIME)).get()
        again = task.run(ZONE, SLOT_TIME)
    assert result == {
        "zone": ZONE, "send_time": SLOT_TIME, "local_date": "2025-03-14",
        "outcome": "complete", "sent": 3, "skipped": 0, "failed": 0, "held": 0, "run_id": 1,
        "unreachable": 0, "deferred": 0, "batches": 1,
    }  # fmt: skip
    assert (again["sent"], again["skipped"]) == (0, 3)
    assert sorted(line["to"] for line in outbox_lines(settings.outbox_path)) == sorted(phones)
    # The run started, so it no longer counts as queued for the reconciler.
    assert redis_client.exists(f"panchang:queued:{ZONE}@{SLOT_TIME}") == 0
    [first, _] = runs(sessions)
    assert (first.trigger, first.task_id is not None, first.pid) == ("beat", True, os.getpid())


def test_a_slot_larger_than_a_batch_is_queued_as_batch_tasks_on_the_broker(
    sessions: sessionmaker[Session], settings: Settings, redis_url: str, redis_client: Any
) -> None:
    add_users(sessions, 7)
    app = create_app(replace(settings, send_batch_size=3).with_redis(redis_url))
    with clock.frozen(FIRE):
        result = app.tasks[SEND_TASK].apply(args=(ZONE, SLOT_TIME)).get()
    # The first batch went out in the task itself; the other two wait for any worker.
    assert (result["batches"], result["sent"], result["outcome"]) == (3, 3, "running")
    queued = [json.loads(raw)["headers"] for raw in redis_client.lrange("celery", 0, -1)]
    assert sorted(h["task"] for h in queued) == ["panchang.send_batch"] * 2
    with sessions() as session:
        batch_ids = list(session.scalars(select(SendBatch.id).order_by(SendBatch.seq)))
    assert sorted(h["argsrepr"] for h in queued) == sorted(f"({i},)" for i in batch_ids[1:])


def _plan(sessions: sessionmaker[Session], settings: Settings, **kwargs: Any) -> Any:
    with clock.frozen(FIRE):
        return plan_run(sessions, settings, ZONE, SLOT_TIME, FIRE, **kwargs)


def test_batches_split_the_slot_by_id_and_report_into_one_run(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    phones = add_users(sessions, 10)
    settings = replace(settings, send_batch_size=4)
    plan = _plan(sessions, settings)
    with sessions() as session:
        batches = list(session.scalars(select(SendBatch).order_by(SendBatch.seq)))
        [run] = session.scalars(select(SendRun)).all()
    # 10 users in batches of 4: (0, id4], (id4, id8], (id8, open).
    assert [(b.seq, b.state) for b in batches] == [(0, "pending"), (1, "pending"), (2, "pending")]
    assert batches[-1].upto_id is None
    assert (run.batches_total, run.batches_done, run.outcome) == (3, 0, None)
    transport = RecordingTransport()
    with clock.frozen(FIRE):
        # Any order, as workers take them.
        for batch_id in reversed(plan.batch_ids):
            send_batch(sessions, transport, settings, batch_id)
    assert sorted(m.to for m in transport.sent) == sorted(phones)
    [run] = runs(sessions)
    assert (run.batches_done, run.sent, run.outcome) == (3, 10, "complete")


def test_a_batch_delivered_again_after_it_ended_does_nothing_and_counts_once(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    add_users(sessions, 2)
    plan = _plan(sessions, settings)
    transport = RecordingTransport()
    with clock.frozen(FIRE):
        first = send_batch(sessions, transport, settings, plan.batch_ids[0])
        second = send_batch(sessions, transport, settings, plan.batch_ids[0])
    assert first is not None and first.sent == 2
    assert second is None
    [run] = runs(sessions)
    assert (run.batches_done, run.sent, run.outcome) == (1, 2, "complete")


def test_each_row_is_marked_sent_before_the_next_message_goes_out(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    add_users(sessions, 5)
    seen: list[list[str]] = []

    class Inspecting(RecordingTransport):
        def send(self, message: Message, halt_key: str | None = None) -> Receipt:
            # What a process killed right now would leave in the ledger.
            seen.append([d.status for d in deliveries(sessions)])
            return super().send(message)

    send(sessions, settings, transport=Inspecting())
    assert seen == [
        ["pending"] * 5,
        ["sent"] + ["pending"] * 4,
        ["sent"] * 2 + ["pending"] * 3,
        ["sent"] * 3 + ["pending"] * 2,
        ["sent"] * 4 + ["pending"],
    ]


def test_a_slow_batch_renews_its_claims_so_another_run_cannot_take_them(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    add_users(sessions, 4)
    lease = settings.claim_lease_s
    now = [FIRE]
    other: list[RunSummary] = []
    transport = RecordingTransport()

    class Slow(RecordingTransport):
        def send(self, message: Message, halt_key: str | None = None) -> Receipt:
            receipt = transport.send(message)
            now[0] += timedelta(seconds=lease * 0.4)  # each send takes 40% of the lease
            if len(transport.sent) == 3:
                # 1.2 leases after the claim: without renewal its claims would have expired.
                other.append(run_slot(sessions, transport, settings, ZONE, SLOT_TIME, now[0]))
            return receipt

    with clock.frozen(lambda: now[0]):
        summary = run_slot(sessions, Slow(), settings, ZONE, SLOT_TIME, FIRE)
    assert summary.sent == 4
    # The message in flight and the last one were still claimed (renewed at 0.8 leases).
    assert (other[0].sent, other[0].held) == (0, 2)
    assert len(transport.sent) == 4  # nobody twice


def test_a_batch_stops_when_its_run_was_abandoned_and_frees_its_claims(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    add_users(sessions, 4)
    lease = settings.claim_lease_s
    now = [FIRE]
    plan = _plan(sessions, settings)

    class Stalling(RecordingTransport):
        def send(self, message: Message, halt_key: str | None = None) -> Receipt:
            receipt = super().send(message)
            if len(self.sent) == 2:
                # The process hung for longer than the lease; the reconciler gave up on it.
                now[0] += timedelta(seconds=lease + 5)
                with session_scope(sessions) as session:
                    run_records.abandon(
                        session, [plan.run_id], now[0] - timedelta(seconds=lease), now[0]
                    )
            return receipt

    transport = Stalling()
    with clock.frozen(lambda: now[0]):
        counts = send_batch(sessions, transport, settings, plan.batch_ids[0])
    assert counts is not None and counts.sent == 2
    rows = deliveries(sessions)
    assert [(d.status, d.claimed_by) for d in rows[2:]] == [("pending", None)] * 2
    [run] = runs(sessions)
    assert run.outcome == "abandoned"


def test_a_late_task_for_an_occurrence_already_complete_records_nothing(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    add_users(sessions, 1)
    send(sessions, settings)
    late = send(sessions, settings, FIRE + timedelta(seconds=settings.late_grace_s + 60))
    assert (late.outcome, late.run_id) == (RunOutcome.COMPLETE, None)
    assert [r.outcome for r in runs(sessions)] == ["complete"]
