"""The periodic reconcile task: Beat runs it every PANCHANG_SYNC_INTERVAL_S and at start-up."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.utils.log import get_task_logger

import redbeat_sync
from tasks.app import SYNC_TASK
from tasks.runtime import redis_client, sessions, settings

log = get_task_logger(__name__)


@shared_task(name=SYNC_TASK, ignore_result=True)
def sync_redbeat() -> dict[str, Any]:
    """Reconcile RedBeat entries with the database; returns the sync report."""
    report = redbeat_sync.sync(sessions(), redis_client(), settings())
    return report.to_dict()
