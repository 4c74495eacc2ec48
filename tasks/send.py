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


# A slot run that finds users under another run's live claim checks again this many times, one
# lease apart; more than that means runs keep dying on those users, which needs a person.
MAX_FOLLOW_UPS = 3
_FOLLOW_UP_MARGIN_S = 5


# No autoretry: a redelivery (acks_late, worker lost) is already safe through the ledger, and
# a retry loop around a partly sent slot is exactly what the ledger exists to make harmless,
# not something to lean on. The one retry we do schedule is the follow-up below.
@shared_task(name=SEND_TASK, bind=True, max_retries=0)
def send_for_timezone(
    self: Task, zone: str, send_time: str, local_date: str | None = None, follow_up: int = 0
) -> dict[str, Any]:
    """Send the day's message to the active users of (`zone`, `send_time` 'HH:MM').

    Beat passes only the slot; `local_date` (ISO) and `follow_up` are set by the follow-up
    run this task schedules for itself. Returns `RunSummary.to_dict()`; a run more than
    `late_grace_s` from its send time is recorded as missed and sends nothing.

    When a worker dies mid-batch, the broker redelivers this task at once, but the users that
    worker had claimed are still under its lease, so the redelivered run skips them as held.
    Nothing else would run that slot again that day, so the run schedules one more, for the
    same local date, just after the lease runs out: it sends whoever is still unsent.
    """
    zone = validate.zone(zone)
    send_time = validate.send_time(send_time)
    day = None if local_date is None else validate.local_date(local_date)
    settings = runtime.settings()
    summary = run_slot(
        runtime.sessions(),
        runtime.transport(),
        settings,
        zone,
        send_time,
        clock.now(),
        local_date=day,
    )
    log.info(
        "send_for_timezone %s@%s local_date=%s outcome=%s sent=%d skipped=%d failed=%d held=%d",
        zone,
        send_time,
        summary.local_date.isoformat(),
        summary.outcome.value,
        summary.sent,
        summary.skipped,
        summary.failed,
        summary.held,
    )
    if summary.held:
        if follow_up < MAX_FOLLOW_UPS:
            countdown = settings.claim_lease_s + _FOLLOW_UP_MARGIN_S
            log.warning(
                "%d users of %s@%s on %s are held by another run's claim; "
                "running the slot again in %d s for whoever is still unsent",
                summary.held,
                zone,
                send_time,
                summary.local_date.isoformat(),
                countdown,
            )
            self.apply_async(
                args=(zone, send_time),
                kwargs={"local_date": summary.local_date.isoformat(), "follow_up": follow_up + 1},
                countdown=countdown,
            )
        else:
            log.error(
                "%d users of %s@%s on %s still held after %d follow-up runs; not retrying "
                "(see `panchang send-now`)",
                summary.held,
                zone,
                send_time,
                summary.local_date.isoformat(),
                follow_up,
            )
    return summary.to_dict()
