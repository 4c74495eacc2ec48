"""The send reconciler's task: Beat runs it every PANCHANG_RECONCILE_INTERVAL_S (60 s) and once
after its start-up sync."""

from __future__ import annotations

from datetime import date
from typing import Any

from celery import current_app, shared_task
from celery.utils.log import get_task_logger

from core import clock
from core.names import RECONCILE_TASK, SEND_TASK
from delivery.reconcile import reconcile
from models import RunTrigger
from scheduler.slots import Slot
from tasks import runtime

log = get_task_logger(__name__)


@shared_task(name=RECONCILE_TASK, ignore_result=True)
def reconcile_sends() -> dict[str, Any]:
    """Abandon dead runs and queue again the slot occurrences that did not complete."""

    def queue(slot: Slot, local_date: date) -> None:
        current_app.send_task(
            SEND_TASK,
            args=(slot.zone, slot.send_time),
            kwargs={"local_date": local_date.isoformat(), "trigger": RunTrigger.RECONCILE.value},
        )

    report = reconcile(
        runtime.sessions(), runtime.redis_client(), runtime.settings(), clock.now(), queue
    )
    return {
        "checked": report.checked,
        "abandoned": report.abandoned,
        "queued": [f"{s.zone}@{s.send_time} {d.isoformat()}" for s, d, _ in report.queued],
        "already_queued": report.already_queued,
    }
