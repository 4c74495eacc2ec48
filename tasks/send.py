"""The tasks that send: `send_for_timezone` plans a slot's run, `panchang.send_batch` sends a
batch of it. Thin edges around `delivery.slot_run`; per-process resources come from
`tasks.runtime`.
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from celery.utils.log import get_task_logger
from redis import RedisError

from core import clock, validate
from core.names import BATCH_TASK, SEND_TASK, queued_marker_key
from delivery.batch import send_batch
from delivery.runs import COUNTED, Worker
from delivery.slot_run import plan_run, summary_of
from models import RunTrigger
from tasks import heartbeat, runtime

log = get_task_logger(__name__)


# No autoretry anywhere: a run that fails is recorded so, and the send reconciler queues the
# slot again; the ledger makes the rerun send only what was not sent.
@shared_task(name=SEND_TASK, bind=True, max_retries=0)
def send_for_timezone(
    self: Task,
    zone: str,
    send_time: str,
    local_date: str | None = None,
    trigger: str = RunTrigger.BEAT.value,
) -> dict[str, Any]:
    """Plan the run of slot (`zone`, `send_time` 'HH:MM') and send it.

    Beat passes only the slot, and the local date is that of the occurrence nearest to now;
    the reconciler passes `local_date` (ISO) and `trigger="reconcile"`. The first batch is sent
    here, the others are queued as `panchang.send_batch` tasks for any worker to take.
    """
    zone = validate.zone(zone)
    send_time = validate.send_time(send_time)
    day = None if local_date is None else validate.local_date(local_date)
    settings = runtime.settings()
    worker = Worker.here(self.request.id, heartbeat.owner())
    try:
        plan = plan_run(
            runtime.sessions(), settings, zone, send_time, clock.now(),
            local_date=day, trigger=RunTrigger(trigger), worker=worker,
        )  # fmt: skip
    finally:
        # Started: whatever happens next is on record in send_run, not waiting in a queue.
        try:
            runtime.redis_client().delete(queued_marker_key(zone, send_time))
        except RedisError as err:  # it expires by itself; the slot must not fail for it
            log.warning("could not clear the queued marker of %s@%s: %s", zone, send_time, err)
    for batch_id in plan.batch_ids[1:]:
        send_batch_task.apply_async(args=(batch_id,))
    log.info(
        "run %s of %s@%s for %s: %s, %d batches",
        plan.run_id, zone, send_time, plan.local_date.isoformat(),
        plan.outcome.value if plan.outcome else "sending", len(plan.batch_ids),
        extra={"run_id": plan.run_id, "zone": zone, "send_time": send_time,
               "local_date": plan.local_date.isoformat(), "batches": len(plan.batch_ids)},
    )  # fmt: skip
    if plan.batch_ids:
        send_batch(
            runtime.sessions(), runtime.transport(), settings, plan.batch_ids[0], worker,
            redis_client=runtime.redis_client(),
        )  # fmt: skip
    # The run so far: complete when its one batch was sent here, `running` while others are.
    return {**summary_of(runtime.sessions(), plan).to_dict(), "batches": len(plan.batch_ids)}


@shared_task(name=BATCH_TASK, bind=True, max_retries=0)
def send_batch_task(self: Task, batch_id: int) -> dict[str, Any] | None:
    """Send one batch of a run; returns its counts (None when it had nothing to do)."""
    counts = send_batch(
        runtime.sessions(),
        runtime.transport(),
        runtime.settings(),
        batch_id,
        Worker.here(self.request.id, heartbeat.owner()),
        redis_client=runtime.redis_client(),
    )
    if counts is None:
        return None
    result = {name: getattr(counts, name) for name in COUNTED}
    log.info(
        "batch %s: %s", batch_id, " ".join(f"{k}={v}" for k, v in result.items()),
        extra={"batch_id": batch_id, **result},
    )  # fmt: skip
    return result
