"""The periodic reconcile of entries: Beat runs it every PANCHANG_SYNC_INTERVAL_S and at
start-up."""

from __future__ import annotations

from typing import Any

from celery import shared_task

import redbeat_sync
from core import clock
from core.errors import SyncRefusedError
from core.names import SYNC_TASK, sync_refused_alert_key
from delivery.alerts import Alerts
from tasks import runtime


@shared_task(name=SYNC_TASK, ignore_result=True)
def sync_redbeat() -> dict[str, Any]:
    """Reconcile RedBeat entries with the database; returns the sync report."""
    try:
        report = redbeat_sync.sync(runtime.sessions(), runtime.redis_client(), runtime.settings())
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
