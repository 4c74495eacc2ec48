"""Names shared across processes: Celery task names and every Redis key we read or write.

Beat, workers, the sync and the CLI run in different processes and agree only through these
strings, so each is defined here once. RedBeat's own layout is mirrored here exactly as
RedBeat derives it from `redbeat_key_prefix` (celery-redbeat 2.4.2, `RedBeatConfig`):
`<prefix><entry name>` is an entry's hash (`definition`, `meta`), `<prefix>:schedule` the
sorted set of entry keys by next due time, `<prefix>:statics` the set of static entry names,
and `<prefix>:lock` the lock that keeps one Beat active.
"""

from __future__ import annotations

# --- Celery task names (stable: RedBeat entries in Redis name them) --------------------------

SEND_TASK = "send_for_timezone"
"""Beat fires it per slot: plans the slot's run and sends (or queues) its batches."""
BATCH_TASK = "panchang.send_batch"
"""Sends one batch of a slot's run (a keyset range of users)."""
SYNC_TASK = "panchang.sync_redbeat"
"""Reconciles RedBeat entries with the database."""
RECONCILE_TASK = "panchang.reconcile_sends"
"""Finds slot occurrences that passed without a complete run and queues them again."""
CLEANUP_TASK = "panchang.cleanup"
"""Deletes ledger rows and run records older than PANCHANG_RETENTION_DAYS, in small batches."""
DAILY_REPORT_TASK = "panchang.daily_report"
"""Rolls each finished local date's sends into `daily_stats`."""
WEEKLY_SUMMARY_TASK = "panchang.weekly_summary"
"""Alerts last ISO week's totals and worst slots (only when PANCHANG_ALERT_URL is set)."""

# --- Static Beat entries ---------------------------------------------------------------------

SYNC_ENTRY = "panchang:sync"
RECONCILE_ENTRY = "panchang:reconcile"
# Maintenance statics. Outside `panchang:send:`, so the sync and our Beat's slot checks never
# touch them (both look only under the entry prefix).
CLEANUP_ENTRY = "panchang:cleanup"
DAILY_REPORT_ENTRY = "panchang:daily-report"
WEEKLY_SUMMARY_ENTRY = "panchang:weekly-summary"

# --- RedBeat's key layout --------------------------------------------------------------------

REDBEAT_KEY_PREFIX = "redbeat:"


def redbeat_entry_key(name: str, key_prefix: str = REDBEAT_KEY_PREFIX) -> str:
    """The hash RedBeat keeps for the entry called `name`."""
    return key_prefix + name


def redbeat_schedule_key(key_prefix: str = REDBEAT_KEY_PREFIX) -> str:
    """The sorted set of entry keys scored by next due time (UTC epoch seconds)."""
    return key_prefix + ":schedule"


def redbeat_statics_key(key_prefix: str = REDBEAT_KEY_PREFIX) -> str:
    """The set of entry names that came from `beat_schedule`."""
    return key_prefix + ":statics"


def redbeat_lock_key(key_prefix: str = REDBEAT_KEY_PREFIX) -> str:
    """The lock the active Beat holds and renews every loop."""
    return key_prefix + ":lock"


# --- Our own keys ----------------------------------------------------------------------------

SYNC_LOCK_KEY = "panchang:sync:lock"
"""Serialises syncs; its token fences a sync's writes (see `redbeat_sync`)."""


def queued_marker_key(zone: str, send_time: str) -> str:
    """Set when a run of slot (`zone`, `send_time`) is queued, deleted when it starts.

    Occurrences of a slot are at least 22 hours apart and the marker lives minutes, so the
    slot alone identifies the occurrence. The reconciler does not queue a slot whose marker
    is set, so a run waiting in a long queue is not queued again every minute.
    """
    return f"panchang:queued:{zone}@{send_time}"


def missed_marker_key(zone: str, send_time: str, local_date: str) -> str:
    """Set when the reconciler records the occurrence of `local_date` (ISO) missed, so that two
    reconcilers running at once record it once."""
    return f"panchang:missed:{zone}@{send_time}/{local_date}"


def halt_key(run_id: int) -> str:
    """Set when WhatsApp says our set-up is broken during run `run_id`: every batch of the run,
    on any worker, stops sending."""
    return f"panchang:halt:run:{run_id}"


def alert_key(kind: str, zone: str, send_time: str, local_date: str) -> str:
    """Set when an alert of `kind` went out for a slot's local date: one alert each."""
    return f"panchang:alert:{kind}:{zone}@{send_time}/{local_date}"


def sync_refused_alert_key(utc_date: str) -> str:
    """Taken (SET NX) by the first periodic sync that refuses a mass delete on a UTC date."""
    return f"panchang:alert:sync-refused:{utc_date}"


def summary_alert_key(iso_week: str) -> str:
    """Set when the weekly summary of `iso_week` ('2026-W47') went out: one per week, however
    often the task runs (a retried or doubled Beat tick)."""
    return f"panchang:alert:weekly-summary/{iso_week}"


def rate_limit_key(phone_number_id: str) -> str:
    """The shared rate limit of one business phone number (a GCRA timestamp)."""
    return f"panchang:ratelimit:{phone_number_id}"


# --- Health (`panchang health`) --------------------------------------------------------------

BEAT_HEARTBEAT_KEY = "panchang:health:beat"
"""Written by the Beat that ticks, every tick: host, pid, time, whether it held RedBeat's lock.
One key, not one per Beat: only the lock holder ticks (a standby waits inside RedBeat's lock
acquire and never reaches a tick)."""
WORKER_HEARTBEAT_PREFIX = "panchang:health:worker:"
SYNC_HEARTBEAT_KEY = "panchang:health:sync"
"""The last successful full sync: time and created/updated/deleted counts."""
CELERY_QUEUE_KEY = "celery"
"""Celery's default queue: with the Redis broker, a list of waiting messages."""


def worker_heartbeat_key(host: str, pid: int) -> str:
    """Refreshed every few seconds by one worker process (found with SCAN on the prefix)."""
    return f"{WORKER_HEARTBEAT_PREFIX}{host}:{pid}"


def alive_key(owner: str) -> str:
    """Set every `ops.heartbeats.WORKER_HEARTBEAT_INTERVAL_S` by the worker process whose
    liveness id is `owner`, with a TTL of a few intervals: gone soon after the process is."""
    return f"panchang:alive:{owner}"


ORPHAN_SWEEP_KEY = "panchang:orphan-sweep"
"""Taken (SET NX, a few seconds' TTL) by the worker process that sweeps for dead batches in this
interval (`tasks.orphans`)."""


def orphan_suspect_key(owner: str) -> str:
    """When a sweep first found `owner`'s alive key missing (UTC epoch s); see
    `delivery.orphans`."""
    return f"panchang:orphan-suspect:{owner}"


# --- Metrics (`/metrics`) --------------------------------------------------------------------

METRICS_KEY = "panchang:metrics"
"""Every process's counters and histogram buckets, one hash field each (`ops.metrics`)."""
SLOT_USERS_KEY = "panchang:metrics:slot-users"
"""Active users per `zone@HH:MM`, as the last full sync counted them (replaced whole)."""
