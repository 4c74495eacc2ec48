"""The Celery task Beat fires for each slot: `send_for_timezone(zone, send_time)`.

The task is a thin edge around `delivery.slot_run.run_slot`; per-process resources come from
`tasks.runtime`.
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from celery.utils.log import get_task_logger

from core import clock, validate
from delivery.slot_run import run_slot
from tasks import runtime
from tasks.app import SEND_TASK

log = get_task_logger(__name__)


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
    summary = run_slot(
        runtime.sessions(), runtime.transport(), runtime.settings(), zone, send_time, clock.now()
    )
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
