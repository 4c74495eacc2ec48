"""The product's Prometheus metrics: what they are, and an in-process tally of them.

Workers are many processes on many machines, and a scrape reaches one web process, so a
counter kept in process memory (prometheus_client's default) would show one process's share.
Every process instead adds what it counted to one Redis hash (`ops.metrics_redis`), which any
web process reads when scraped. The hot path (one message, one rate-limiter wait) only adds to
`TALLY` in memory; the tally goes to Redis once per batch, in one round trip.

This module is pure: definitions, bucket arithmetic, and the thread-safe tally.
"""

from __future__ import annotations

import bisect
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    COUNTER = "counter"
    HISTOGRAM = "histogram"


@dataclass(frozen=True)
class Metric:
    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()  # upper bounds, ascending; +Inf is implied


MESSAGES = Metric(
    "panchang_messages_total",
    Kind.COUNTER,
    "Messages by what became of them (accepted, unreachable, final, hold, deferred, halt, "
    "halted) and the provider's error code ('' when none).",
    ("outcome", "error_code"),
)
SLOT_RUNS = Metric(
    "panchang_slot_runs_total",
    Kind.COUNTER,
    "Slot runs by the outcome they ended with (complete, failed, halted, missed, abandoned).",
    ("outcome",),
)
FIRE_LAG = Metric(
    "panchang_slot_fire_lag_seconds",
    Kind.HISTOGRAM,
    "When a scheduled run started, minus the slot's local send time (Beat and reconciler runs).",
    ("trigger",),
    (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
SLOT_DURATION = Metric(
    "panchang_slot_duration_seconds",
    Kind.HISTOGRAM,
    "From a run's start to its outcome, for runs that sent (complete, failed, halted).",
    ("outcome",),
    (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600),
)
RATE_WAIT = Metric(
    "panchang_rate_limit_wait_seconds",
    Kind.HISTOGRAM,
    "Time a send waited for its slot in the business number's shared rate limit.",
    (),
    (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
SYNC_DURATION = Metric(
    "panchang_sync_duration_seconds",
    Kind.HISTOGRAM,
    "Duration of a RedBeat sync, full or scoped to the slots a change touched.",
    ("scope",),
    (0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SYNC_CHANGES = Metric(
    "panchang_sync_changes_total",
    Kind.COUNTER,
    "Entries a sync created, updated or deleted.",
    ("change",),
)

RECORDED: tuple[Metric, ...] = (
    MESSAGES,
    SLOT_RUNS,
    FIRE_LAG,
    SLOT_DURATION,
    RATE_WAIT,
    SYNC_DURATION,
    SYNC_CHANGES,
)
BY_NAME = {m.name: m for m in RECORDED}


def label_key(metric: Metric, labels: Mapping[str, str]) -> str:
    """The labels as stored: a JSON list of values in the metric's label order."""
    if set(labels) != set(metric.labels):
        raise ValueError(f"{metric.name} takes labels {metric.labels}, got {sorted(labels)}")
    return json.dumps([str(labels[name]) for name in metric.labels], ensure_ascii=False)


def bucket_of(metric: Metric, value: float) -> str:
    """The field suffix of the bucket `value` falls in: its upper bound, or '+Inf'."""
    index = bisect.bisect_left(metric.buckets, value)
    return "+Inf" if index == len(metric.buckets) else _bound(metric.buckets[index])


def _bound(value: float) -> str:
    return repr(float(value))


def field(metric: Metric, labels: str, part: str = "") -> str:
    """One Redis hash field: `name|labels` for a counter, `name|labels|part` for a histogram
    (part: a bucket's upper bound, `sum` or `count`)."""
    return f"{metric.name}|{labels}|{part}" if part else f"{metric.name}|{labels}"


class Tally:
    """Increments counted in this process and not yet added to Redis. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fields: dict[str, float] = {}

    def inc(self, metric: Metric, amount: float = 1.0, **labels: str) -> None:
        key = field(metric, label_key(metric, labels))
        with self._lock:
            self._fields[key] = self._fields.get(key, 0.0) + amount

    def observe(self, metric: Metric, value: float, **labels: str) -> None:
        self.merge(observation(metric, value, **labels))

    def merge(self, fields: Mapping[str, float]) -> None:
        """Add `fields` back (a flush that failed keeps its increments for the next one)."""
        with self._lock:
            for key, amount in fields.items():
                self._fields[key] = self._fields.get(key, 0.0) + amount

    def take(self) -> dict[str, float]:
        """Everything counted so far; the tally starts again from zero."""
        with self._lock:
            fields, self._fields = self._fields, {}
        return fields

    def reset(self) -> None:
        # After fork: the child must neither inherit the parent's counts (they would be added
        # twice) nor a lock another thread of the parent held.
        self._lock = threading.Lock()
        self._fields = {}


def observation(metric: Metric, value: float, **labels: str) -> dict[str, float]:
    """The hash increments of one histogram observation (its bucket, sum and count)."""
    key = label_key(metric, labels)
    return {
        field(metric, key, bucket_of(metric, value)): 1.0,
        field(metric, key, "sum"): float(value),
        field(metric, key, "count"): 1.0,
    }


TALLY = Tally()
os.register_at_fork(after_in_child=TALLY.reset)
