"""The periodic reconcile of entries: Beat runs it every PANCHANG_SYNC_INTERVAL_S and at
start-up."""

from __future__ import annotations

from typing import Any

from celery import shared_task

import redbeat_sync
from core.names import SYNC_TASK
from tasks.runtime import redis_client, sessions, settings


@shared_task(name=SYNC_TASK, ignore_result=True)
def sync_redbeat() -> dict[str, Any]:
    """Reconcile RedBeat entries with the database; returns the sync report."""
    report = redbeat_sync.sync(sessions(), redis_client(), settings())
    return report.to_dict()
