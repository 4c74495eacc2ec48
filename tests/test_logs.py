"""Logs as JSON lines (PANCHANG_LOG_FORMAT=json) with the ids a log platform indexes."""

from __future__ import annotations

import io
import json
import logging

import pytest

from core.errors import ConfigError
from core.logs import JsonFormatter, use_json
from core.settings import Settings


def test_a_json_line_carries_the_message_level_and_the_ids_given_as_extra() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("test.logs.extra")
    logger.propagate = False
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    use_json(logger)
    logger.warning(
        "user %s: %s", 7, "final",
        extra={"user_id": 7, "batch_id": 12, "run_id": 3, "zone": "Asia/Kolkata"},
    )  # fmt: skip
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("batch %s failed", 12, extra={"batch_id": 12})
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "user 7: final" and first["level"] == "WARNING"
    assert (first["user_id"], first["batch_id"], first["run_id"], first["zone"]) == (
        7, 12, 3, "Asia/Kolkata")  # fmt: skip
    assert first["time"].endswith("+00:00") and first["logger"] == "test.logs.extra"
    assert "args" not in first and "msg" not in first  # the record's own attributes stay out
    assert second["batch_id"] == 12 and "ValueError: boom" in second["exception"]


def test_celery_processes_get_json_handlers_when_the_settings_say_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dataclasses import replace

    import tasks

    logger = logging.getLogger("test.logs.celery")
    logger.addHandler(logging.StreamHandler(io.StringIO()))
    monkeypatch.setattr(tasks.app, "settings", replace(tasks.app.settings, log_format="json"))
    from celery import signals

    signals.after_setup_logger.send(sender=None, logger=logger, loglevel=logging.INFO,
                                    logfile=None, format="", colorize=False)  # fmt: skip
    assert all(isinstance(h.formatter, JsonFormatter) for h in logger.handlers)


def test_an_unknown_log_format_is_one_line_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="invalid PANCHANG_LOG_FORMAT 'xml'"):
        Settings.from_env({"PANCHANG_LOG_FORMAT": "xml"})
    assert Settings.from_env({"PANCHANG_LOG_FORMAT": "JSON"}).log_format == "json"
    assert Settings.from_env({}).log_format == "text"
