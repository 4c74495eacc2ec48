"""Logs go to stdout/stderr for the platform to ship: readable text, or one JSON object per line
(`PANCHANG_LOG_FORMAT=json`) whose fields a log platform can index.

Log calls pass their ids as `extra={"zone": ..., "run_id": ..., "batch_id": ..., "user_id":
...}`; the JSON form carries every such field, and inside a Celery task also the task's name
and id.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName",
}  # fmt: skip


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, process, the
    record's extra fields, the Celery task if any, and the exception text if any."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        data.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        task = _current_task()
        if task is not None:
            data.setdefault("task_name", task[0])
            data.setdefault("task_id", task[1])
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False)


def _current_task() -> tuple[str, str] | None:
    try:
        from celery._state import get_current_task
    except ImportError:  # pragma: no cover - celery is a dependency
        return None
    task = get_current_task()
    if task is None or task.request.id is None:
        return None
    return str(task.name), str(task.request.id)


def use_json(logger: logging.Logger | None = None) -> None:
    """Give every handler of `logger` (default: the root logger) the JSON formatter."""
    target = logger or logging.getLogger()
    if not target.handlers:
        target.addHandler(logging.StreamHandler())
    for handler in target.handlers:
        handler.setFormatter(JsonFormatter())
