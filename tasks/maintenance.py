"""Maintenance tasks Beat runs as static entries (see `tasks.app`): the nightly retention
cleanup, the hourly daily-stats rollup and, when alerts are configured, the weekly summary."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.utils.log import get_task_logger

from core import clock
from core.names import CLEANUP_TASK, DAILY_REPORT_TASK, WEEKLY_SUMMARY_TASK, summary_alert_key
from tasks import runtime

log = get_task_logger(__name__)


@shared_task(name=CLEANUP_TASK, ignore_result=True)
def cleanup() -> dict[str, Any]:
    """Delete ledger rows and runs older than PANCHANG_RETENTION_DAYS, in small batches."""
    from maintenance.retention import cleanup as run_cleanup

    settings = runtime.settings()
    report = run_cleanup(runtime.sessions(), clock.now(), settings.retention_days)
    summary = report.to_dict()
    log.info("cleanup: %s", summary)
    if report.unfinished:
        log.warning("cleanup: time budget used up; the next run deletes the rest")
    return summary


@shared_task(name=DAILY_REPORT_TASK, ignore_result=True)
def daily_report() -> dict[str, Any]:
    """Roll the finished local dates into `daily_stats`."""
    from maintenance.daily_stats import rollup

    report = rollup(runtime.sessions(), clock.now(), runtime.settings().late_grace_s)
    return report.to_dict()


@shared_task(name=WEEKLY_SUMMARY_TASK, ignore_result=True)
def weekly_summary() -> dict[str, Any]:
    """Alert last ISO week's totals and worst slots; nothing when no alert URL is set."""
    from delivery.alerts import Alerts
    from maintenance.daily_stats import last_iso_week, week_summary

    settings = runtime.settings()
    if not settings.alert_urls:
        # Without a channel the summary would be one more log line nobody asked for.
        return {"sent": False, "reason": "PANCHANG_ALERT_URL is not set"}
    first = last_iso_week(clock.now())
    with runtime.sessions()() as session:
        summary = week_summary(session, first)
    sent = Alerts(settings, runtime.redis_client()).send_once(
        summary_alert_key(summary.iso_week), "weekly-summary", summary.title(), summary.body()
    )
    return {"sent": sent, "week": summary.iso_week, "total": summary.total}
