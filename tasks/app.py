"""The Celery app. `celery -A tasks worker|beat` finds it, with the zoned scheduler preset."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.schedules import crontab

from core.errors import ConfigError
from core.names import (
    CLEANUP_ENTRY,
    CLEANUP_TASK,
    DAILY_REPORT_ENTRY,
    DAILY_REPORT_TASK,
    RECONCILE_ENTRY,
    RECONCILE_TASK,
    SYNC_ENTRY,
    SYNC_TASK,
    WEEKLY_SUMMARY_ENTRY,
    WEEKLY_SUMMARY_TASK,
)
from core.redis_conn import celery_redis_options
from core.settings import Settings

# Used only when neither REDIS_URL nor a `panchang run` Redis is known, so that a bare
# `celery -A tasks worker` on a developer machine talks to the usual local server.
FALLBACK_REDIS_URL = "redis://127.0.0.1:6379/0"

# A task may take at least this long (the sync, the reconciler and the cleanup, whose own time
# budget is 240 s, fit well inside it). The soft limit raises in the task, which records the
# batch failed and frees its claims, so the reconciler reruns it; the hard limit kills a task
# that ignored the soft one, 30 s later.
TASK_SOFT_TIME_LIMIT_MIN_S = 300
HARD_AFTER_SOFT_S = 30
# With the Redis broker, a message not acknowledged within this time is handed to another
# worker, even while the first still runs it (Redis cannot tell a slow worker from a dead one).
# Tasks are killed at their hard limit, at most half of this, so a live task is never doubled;
# a worker that dies loses nothing meanwhile, as the reconciler reruns what did not complete.
VISIBILITY_TIMEOUT_S = 3600
TASK_SOFT_TIME_LIMIT_MAX_S = VISIBILITY_TIMEOUT_S // 2 - HARD_AFTER_SOFT_S
# A worker child is replaced after this many tasks: the panchangam and message caches are
# bounded, but a long-lived process still grows by fragmentation; a new child costs about a
# second (the ephemeris loads in 0.1 s), once every 1,000 batches.
MAX_TASKS_PER_CHILD = 1000


def time_limits(settings: Settings) -> tuple[int, int]:
    """(soft, hard) seconds for every task, sized from the batch: a batch of `send_batch_size`
    users at the number's rate takes size/rate seconds when it has the limiter to itself; four
    times that leaves room for retries with backoff and for workers sharing the rate, and 120 s
    for the start of a run (planning, the first batch's claims). 500 users at 80/s: 6 s, so
    the floor of 300 s applies; 2,500 at 10/s: 250 s -> 1,120 s; never more than half the
    visibility timeout, hard limit included."""
    rate = settings.whatsapp.rate_per_s if settings.transport == "whatsapp" else 1000.0
    wanted = 4 * settings.send_batch_size / rate + 120
    soft = int(min(max(wanted, TASK_SOFT_TIME_LIMIT_MIN_S), TASK_SOFT_TIME_LIMIT_MAX_S))
    return soft, soft + HARD_AFTER_SOFT_S


class PanchangCelery(Celery):
    """Celery that carries the settings it was built from, for tasks to read."""

    settings: Settings


def create_app(settings: Settings | None = None) -> PanchangCelery:
    """Build the app from `settings` (default: from the environment).

    ConfigError when the only Redis known is a `panchang run` server that has stopped.
    """
    settings = settings or Settings.from_env()
    if settings.redis_problem:
        raise ConfigError(settings.redis_problem)
    redis_url = settings.redis_url or FALLBACK_REDIS_URL
    app = PanchangCelery(
        "panchang",
        include=[
            "tasks.send",
            "tasks.sync",
            "tasks.reconcile",
            "tasks.heartbeat",
            "tasks.orphans",
            "tasks.maintenance",
        ],
    )
    app.settings = settings
    soft_limit, hard_limit = time_limits(settings)
    # A plain Redis URL, or Sentinel: the broker and RedBeat each get their own form of it.
    where = celery_redis_options(redis_url)
    app.conf.update(
        broker_url=where["broker_url"],
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": VISIBILITY_TIMEOUT_S,
            **where["broker_transport_options"],
        },
        timezone="UTC",
        enable_utc=True,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        # A message is acknowledged when its task ends, not when it starts: a worker that dies
        # mid-task leaves it to be redelivered. The ledger and the batch records make a second
        # delivery harmless.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # One message per worker process at a time: a batch waits in Redis, where any free
        # worker can take it, rather than behind a busy one.
        worker_prefetch_multiplier=1,
        task_soft_time_limit=soft_limit,
        task_time_limit=hard_limit,
        worker_max_tasks_per_child=MAX_TASKS_PER_CHILD,
        # Task events, so Flower (compose's `flower`) shows each task as it is sent, started and
        # done; a few small messages per task on the broker.
        worker_send_task_events=True,
        task_send_sent_event=True,
        beat_scheduler="scheduler.beat:ZonedRedBeatScheduler",
        # Beat extends its lock once per loop, so a loop must be well under the lock timeout.
        beat_max_loop_interval=settings.beat_max_interval_s,
        redbeat_redis_url=where["redbeat_redis_url"],
        redbeat_redis_options={
            "retry_period": 60,
            "health_check_interval": 30,
            **where["redbeat_redis_options"],
        },
        redbeat_key_prefix=settings.redbeat_key_prefix,
        redbeat_lock_timeout=settings.beat_lock_timeout_s,
        beat_schedule={
            SYNC_ENTRY: {
                "task": SYNC_TASK,
                "schedule": float(settings.sync_interval_s),
                "options": {"expires": float(settings.sync_interval_s)},
            },
            RECONCILE_ENTRY: {
                "task": RECONCILE_TASK,
                "schedule": float(settings.reconcile_interval_s),
                # A backlog must not pile up reconcilers: the next one looks afresh anyway.
                "options": {"expires": float(settings.reconcile_interval_s)},
            },
            **maintenance_entries(settings),
        },
    )
    return app


def maintenance_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    """The maintenance statics, in UTC (the app's zone). Each expires well before its next run:
    a tick left in a backlog is dropped rather than run twice in a row, since the next run
    covers it (the cleanup and rollup catch up; the summary is one per week anyway)."""
    entries: dict[str, dict[str, Any]] = {
        CLEANUP_ENTRY: {
            "task": CLEANUP_TASK,
            "schedule": crontab(minute=0, hour=2),
            "options": {"expires": 6 * 3600.0},
        },
        DAILY_REPORT_ENTRY: {
            "task": DAILY_REPORT_TASK,
            # Hourly: local dates finish hour by hour around the world.
            "schedule": crontab(minute=5),
            "options": {"expires": 3000.0},
        },
    }
    if settings.alert_urls:
        # Only with a channel to send it to; RedBeat drops a static that leaves beat_schedule.
        entries[WEEKLY_SUMMARY_ENTRY] = {
            "task": WEEKLY_SUMMARY_TASK,
            "schedule": crontab(minute=0, hour=9, day_of_week="mon"),
            "options": {"expires": 6 * 3600.0},
        }
    return entries
