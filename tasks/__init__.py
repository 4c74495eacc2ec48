"""Celery app and tasks. `celery -A tasks worker` and `celery -A tasks beat` use `app`."""

import logging

from celery import signals

from core.errors import ConfigError
from core.logs import use_json
from tasks.app import create_app

try:
    app = create_app()
except ConfigError as err:
    # `celery -A tasks ...` would print an import traceback; one line says what to fix.
    raise SystemExit(f"Error: {err}") from None


def _json_logs(logger: logging.Logger, **_: object) -> None:
    # Celery sets up its own handlers in every worker and Beat; when the settings ask for JSON,
    # swap the formatter on them (the task logger gets its own call).
    if app.settings.log_format == "json":
        use_json(logger)


def _flush_metrics(**_: object) -> None:
    # After every task, in the process that ran it: what it counted (messages, rate-limit
    # waits, runs ended) reaches the shared counters in one round trip.
    from ops.metrics_redis import flush
    from tasks import runtime

    flush(runtime.redis_client())


signals.after_setup_logger.connect(_json_logs, weak=False)
signals.after_setup_task_logger.connect(_json_logs, weak=False)
signals.task_postrun.connect(_flush_metrics, weak=False)

__all__ = ["app"]
