"""The Celery task Beat fires for each slot: `send_for_timezone(zone, send_time)`.

The task is a thin edge around `delivery.slot_run.run_slot`. Each worker process keeps one
engine and one transport, created on first use in that process (never at import, so a prefork
child never inherits its parent's database connections).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from celery import Task, shared_task
from celery.utils.log import get_task_logger
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core import clock, validate
from core.settings import Settings
from delivery.slot_run import run_slot
from models.db import make_engine, session_factory
from tasks.app import SEND_TASK
from transport.base import Transport
from transport.outbox import OutboxTransport

log = get_task_logger(__name__)


@dataclass
class _Resources:
    pid: int
    key: tuple[str, str]
    engine: Engine
    sessions: sessionmaker[Session]
    transport: Transport


_resources: _Resources | None = None
_lock = threading.Lock()


def resources_for(settings: Settings) -> tuple[sessionmaker[Session], Transport]:
    """This process's sessionmaker and transport for `settings`, created on first use.

    Rebuilt when the process is a fork of the one that built them, or when the settings point
    elsewhere (tests run one app per database).
    """
    global _resources
    key = (settings.database_url, str(settings.outbox_path))
    with _lock:
        current = _resources
        if current is None or current.pid != os.getpid() or current.key != key:
            if current is not None:
                # In a forked child the parent's pooled connections are not ours to close.
                current.engine.dispose(close=current.pid == os.getpid())
            engine = make_engine(settings.database_url)
            current = _Resources(
                pid=os.getpid(),
                key=key,
                engine=engine,
                sessions=session_factory(engine),
                transport=OutboxTransport(settings.outbox_path),
            )
            _resources = current
        return current.sessions, current.transport


def _settings_of(task: Task) -> Settings:
    settings = getattr(task.app, "settings", None)
    return settings if isinstance(settings, Settings) else Settings.from_env()


# No autoretry: a redelivery (acks_late, worker lost) is already safe through the ledger, and
# a retry loop around a partly sent slot is exactly what the ledger exists to make harmless,
# not something to lean on.
@shared_task(name=SEND_TASK, bind=True, max_retries=0)
def send_for_timezone(self: Task, zone: str, send_time: str) -> dict[str, Any]:
    """Send the day's message to the active users of (`zone`, `send_time` 'HH:MM').

    Returns `RunSummary.to_dict()`; a run more than `late_grace_s` from its send time is
    recorded as missed and sends nothing.
    """
    zone = validate.zone(zone)
    send_time = validate.send_time(send_time)
    settings = _settings_of(self)
    sessions, transport = resources_for(settings)
    summary = run_slot(sessions, transport, settings, zone, send_time, clock.now())
    log.info(
        "send_for_timezone %s@%s local_date=%s outcome=%s sent=%d skipped=%d failed=%d",
        zone,
        send_time,
        summary.local_date.isoformat(),
        summary.outcome.value,
        summary.sent,
        summary.skipped,
        summary.failed,
    )
    return summary.to_dict()
