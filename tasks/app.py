"""The Celery app. `celery -A tasks worker|beat` finds it, with the zoned scheduler preset."""

from __future__ import annotations

from celery import Celery

from core.settings import Settings

# Used only when neither REDIS_URL nor a `panchang run` Redis is known, so that a bare
# `celery -A tasks worker` on a developer machine talks to the usual local server.
FALLBACK_REDIS_URL = "redis://127.0.0.1:6379/0"
SYNC_TASK = "panchang.sync_redbeat"
SEND_TASK = "send_for_timezone"


class PanchangCelery(Celery):
    """Celery that carries the settings it was built from, for tasks to read."""

    settings: Settings


def create_app(settings: Settings | None = None) -> PanchangCelery:
    """Build the app from `settings` (default: from the environment)."""
    settings = settings or Settings.from_env()
    redis_url = settings.redis_url or FALLBACK_REDIS_URL
    app = PanchangCelery("panchang", include=["tasks.send", "tasks.sync"])
    app.settings = settings
    app.conf.update(
        broker_url=redis_url,
        broker_connection_retry_on_startup=True,
        timezone="UTC",
        enable_utc=True,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        # A worker that dies mid-slot leaves the message unacked, so another worker redoes
        # the slot; the ledger makes that redo send only what was not sent.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        beat_scheduler="scheduler.beat:ZonedRedBeatScheduler",
        # Beat extends its lock once per loop, so a loop must be well under the lock timeout.
        beat_max_loop_interval=settings.beat_max_interval_s,
        redbeat_redis_url=redis_url,
        redbeat_redis_options={"retry_period": 60, "health_check_interval": 30},
        redbeat_key_prefix=settings.redbeat_key_prefix,
        redbeat_lock_timeout=settings.beat_lock_timeout_s,
        beat_schedule={
            "panchang:sync": {
                "task": SYNC_TASK,
                "schedule": float(settings.sync_interval_s),
                "options": {"expires": float(settings.sync_interval_s)},
            }
        },
    )
    return app
