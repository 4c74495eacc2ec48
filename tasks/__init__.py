"""Celery app and tasks. `celery -A tasks worker` and `celery -A tasks beat` use `app`."""

from tasks.app import create_app

app = create_app()

__all__ = ["app"]
