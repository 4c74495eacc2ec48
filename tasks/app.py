"""The Celery app. `celery -A tasks worker|beat` finds it, with the zoned scheduler preset."""

from __future__ import annotations

from celery import Celery

from core.errors import ConfigError
from core.names import RECONCILE_ENTRY, RECONCILE_TASK, SYNC_ENTRY, SYNC_TASK
from core.settings import Settings

# Used only when neither REDIS_URL nor a `panchang run` Redis is known, so that a bare
# `celery -A tasks worker` on a developer machine talks to the usual local server.
FALLBACK_REDIS_URL = "redis://127.0.0.1:6379/0"

# A task may take at most this long. A batch is `send_batch_size` (500) messages: about 6 s at
# WhatsApp's default 80 messages/s, a few hundred ms into the outbox. The soft limit raises in
# the task, which records the batch failed and frees its claims, so the reconciler reruns it.
TASK_SOFT_TIME_LIMIT_S = 300
TASK_TIME_LIMIT_S = 330
# With the Redis broker, a message not acknowledged within this time is handed to another
# worker, even while the first still runs it (Redis cannot tell a slow worker from a dead one).
# Tasks here are killed at TASK_TIME_LIMIT_S, far below, so a live task is never doubled;
# a worker that dies loses nothing meanwhile, as the reconciler reruns what did not complete.
VISIBILITY_TIMEOUT_S = 3600
assert TASK_TIME_LIMIT_S * 2 < VISIBILITY_TIMEOUT_S


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
    app = PanchangCelery("panchang", include=["tasks.send", "tasks.sync", "tasks.reconcile"])
    app.settings = settings
    app.conf.update(
        broker_url=redis_url,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_S},
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
        task_soft_time_limit=TASK_SOFT_TIME_LIMIT_S,
        task_time_limit=TASK_TIME_LIMIT_S,
        beat_scheduler="scheduler.beat:ZonedRedBeatScheduler",
        # Beat extends its lock once per loop, so a loop must be well under the lock timeout.
        beat_max_loop_interval=settings.beat_max_interval_s,
        redbeat_redis_url=redis_url,
        redbeat_redis_options={"retry_period": 60, "health_check_interval": 30},
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
        },
    )
    return app
