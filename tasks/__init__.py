"""Celery app and tasks. `celery -A tasks worker` and `celery -A tasks beat` use `app`."""

from core.errors import ConfigError
from tasks.app import create_app

try:
    app = create_app()
except ConfigError as err:
    # `celery -A tasks ...` would print an import traceback; one line says what to fix.
    raise SystemExit(f"Error: {err}") from None

__all__ = ["app"]
