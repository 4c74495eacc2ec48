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


signals.after_setup_logger.connect(_json_logs, weak=False)
signals.after_setup_task_logger.connect(_json_logs, weak=False)

__all__ = ["app"]
