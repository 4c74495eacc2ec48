"""The periodic reconcile of entries: Beat runs it every PANCHANG_SYNC_INTERVAL_S and at
start-up."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.utils.log import get_task_logger

import redbeat_sync
from core import clock
from core.errors import SyncRefusedError, ValidationError
from core.names import SYNC_TASK, sync_refused_alert_key
from delivery.alerts import Alerts
from scheduler.slots import Slot
from tasks import runtime

log = get_task_logger(__name__)


@shared_task(name=SYNC_TASK, ignore_result=True)
def sync_redbeat(only: list[str] | None = None) -> dict[str, Any]:
    """Reconcile RedBeat entries with the database; returns the sync report.

    `only` ('zone@HH:MM' names, from Beat's listener) limits it to those slots; a name that is
    not a valid slot is skipped, as the full sync skips such rows.
    """
    scope = None if only is None else _slots(only)
    try:
        report = redbeat_sync.sync(
            runtime.sessions(), runtime.redis_client(), runtime.settings(), only=scope
        )
    except SyncRefusedError as err:
        # The schedule stays as it was, and every later sync refuses the same way until
        # someone looks: one alert a day, not one every sync interval.
        Alerts(runtime.settings(), runtime.redis_client()).problem_once(
            sync_refused_alert_key(clock.now().date().isoformat()),
            "sync-refused",
            "RedBeat sync refused a mass delete",
            str(err),
        )
        return {"refused": str(err)}
    return report.to_dict()


def _slots(names: list[str]) -> list[Slot]:
    slots = []
    for name in names:
        try:
            slots.append(Slot.from_entry_name(name, prefix=""))
        except ValidationError as err:
            log.warning("sync: skipped slot %r from a user change: %s", name, err)
    return slots
