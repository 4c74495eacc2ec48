"""The system panchang-scheduler replaces, re-implemented for bench/jit_planner.py.

The "JIT planner", as it ran:
- Celery Beat (the stock scheduler, its state in a local file) sends `jit.plan` every 600 s.
- `jit.plan` reads the zones of the active users; for each whose next 06:30 falls within the
  next 15 minutes it takes `SET lock:{zone}:{date} NX EX 86400` and, when it got the lock,
  queues `jit.send_for_timezone(zone)` with a countdown to 06:30.
- The broker is Redis with `visibility_timeout` 24 h, so a countdown message, unacknowledged
  while it waits in a worker's memory, is not handed to a second worker before it is due.
- `jit.send_for_timezone` reads the zone's active users and sends each one message. The lock
  was its only guard against doubles: no ledger, no retry, and Celery's default early
  acknowledgement (the message is acknowledged when the task starts).

One change, so that both systems serve the same 2,452 slots of bench/sync.py's database: the
old planner knew one send time, 06:30; here the planner looks at (zone, send time) pairs, and
the lock key and the task carry the send time (`lock:{zone}:{send_time}:{date}`). The planner's
query is the sync's own `GROUP BY (timezone, send_time)` over the active users, so a planner
call and a full sync read the same rows.

`celery -A bench.jit_app worker` runs it for real, with JIT_REDIS_URL, JIT_DATABASE_URL and
JIT_OUTBOX (a JSON-lines file, one line per message, standing in for WhatsApp).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import redis
from celery import Celery
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from delivery.local_day import occurrence_on
from models import User
from models.db import make_engine, session_factory, session_scope
from redbeat_sync import desired_slots
from scheduler.slots import Slot

PLAN_INTERVAL_S = 600
WINDOW_S = 900
LOCK_TTL_S = 86400
VISIBILITY_TIMEOUT_S = 86400
PLAN_TASK = "jit.plan"
SEND_TASK = "jit.send_for_timezone"


@dataclass(frozen=True)
class Queued:
    """One countdown task the planner queued: the slot occurrence it is for, when it was
    queued and when it is due (aware UTC)."""

    slot: Slot
    local_date: date
    planned_at: datetime
    eta: datetime

    @property
    def countdown_s(self) -> float:
        return (self.eta - self.planned_at).total_seconds()


def lock_key(slot: Slot, local_date: date) -> str:
    return f"lock:{slot.zone}:{slot.send_time}:{local_date.isoformat()}"


def due_soon(
    slots: Iterable[Slot], now: datetime, window_s: float = WINDOW_S
) -> Iterator[tuple[Slot, date, datetime]]:
    """The slots whose next send time falls in (now, now + window_s], with its local date and
    instant. Pure."""
    horizon = now + timedelta(seconds=window_s)
    for slot in slots:
        today = now.astimezone(ZoneInfo(slot.zone)).date()
        for day in (today, today + timedelta(days=1)):
            at = occurrence_on(slot.zone, slot.send_time, day)
            if at > now:
                if at <= horizon:
                    yield slot, day, at
                break


def plan(
    sessions: sessionmaker[Session],
    client: redis.Redis,
    queue: Callable[[Slot, float], None],
    now: datetime,
) -> list[Queued]:
    """One planner run at `now`: queue, with a countdown, every slot due within the window
    whose lock for the day this run takes."""
    with session_scope(sessions) as session:
        slots = desired_slots(session, now).users
    queued: list[Queued] = []
    for slot, day, at in due_soon(slots, now):
        if client.set(lock_key(slot, day), 1, nx=True, ex=LOCK_TTL_S):
            queue(slot, (at - now).total_seconds())
            queued.append(Queued(slot, day, now, at))
    return queued


def create_jit_app(redis_url: str) -> Celery:
    app = Celery("jit", broker=redis_url)
    app.conf.update(
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_S},
        broker_connection_retry_on_startup=True,
        timezone="UTC",
        enable_utc=True,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        beat_schedule={"jit-plan": {"task": PLAN_TASK, "schedule": float(PLAN_INTERVAL_S)}},
    )
    return app


REDIS_URL = os.environ.get("JIT_REDIS_URL", "redis://127.0.0.1:6379/0")
app = create_jit_app(REDIS_URL)


@lru_cache(maxsize=1)
def _sessions() -> sessionmaker[Session]:
    return session_factory(make_engine(os.environ["JIT_DATABASE_URL"]))


@lru_cache(maxsize=1)
def _redis() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL)


def queue_on(on: Celery) -> Callable[[Slot, float], None]:
    """The planner's `queue`: `send_for_timezone` with a countdown, sent through `on`."""

    def queue(slot: Slot, countdown_s: float) -> None:
        on.send_task(SEND_TASK, args=(slot.zone, slot.send_time), countdown=countdown_s)

    return queue


@app.task(name=PLAN_TASK)
def plan_task() -> int:
    return len(plan(_sessions(), _redis(), queue_on(app), datetime.now(UTC)))


@app.task(name=SEND_TASK)
def send_for_timezone(zone: str, send_time: str) -> int:
    """Send the slot's active users one message each, for the local date of now."""
    now = datetime.now(UTC)
    local_date = now.astimezone(ZoneInfo(zone)).date().isoformat()
    with session_scope(_sessions()) as session:
        phones = session.scalars(
            select(User.phone).where(
                User.timezone == zone, User.send_time == send_time, User.sendable_at(now)
            )
        ).all()
    with open(os.environ["JIT_OUTBOX"], "a", encoding="utf-8") as outbox:
        for phone in phones:
            line = {
                "to": phone,
                "zone": zone,
                "send_time": send_time,
                "local_date": local_date,
                "started_at": now.isoformat(),
                "pid": os.getpid(),
            }
            outbox.write(json.dumps(line) + "\n")
            outbox.flush()
    return len(phones)
