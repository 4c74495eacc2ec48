"""The metrics' Redis side: processes add their tallies to one hash, a scrape reads it.

HINCRBYFLOAT is atomic, so any number of processes on any number of hosts add to the same
fields without losing an increment, and a scrape of any web process sees the whole cluster.
When Redis loses its data the counters start again from zero, which Prometheus reads as a
counter reset (`rate()` and `increase()` handle it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import redis
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from core.names import CELERY_QUEUE_KEY, METRICS_KEY, SLOT_USERS_KEY
from ops import metrics
from ops.metrics import TALLY, Kind, Tally

log = logging.getLogger(__name__)


def add(client: redis.Redis, fields: Mapping[str, float]) -> None:
    """Add `fields` to the shared hash in one round trip. RedisError when Redis is away."""
    if not fields:
        return
    pipe = client.pipeline(transaction=False)
    queue_add(pipe, fields)
    pipe.execute()


def queue_add(pipe: redis.client.Pipeline, fields: Mapping[str, float]) -> None:
    """Queue the increments of `fields` on `pipe`, to go with the caller's other writes."""
    for key, amount in fields.items():
        pipe.hincrbyfloat(METRICS_KEY, key, amount)


def flush(client: redis.Redis | None, tally: Tally = TALLY) -> None:
    """Send this process's tally to Redis. Metrics never fail the work they count: when Redis
    is away (or there is no client) the increments stay in the tally for the next flush."""
    if client is None:
        return
    fields = tally.take()
    try:
        add(client, fields)
    except redis.RedisError as err:
        tally.merge(fields)
        log.warning("metrics not flushed (kept for the next flush): %s", err)


def queue_slot_users(pipe: redis.client.Pipeline, users: Mapping[str, int]) -> None:
    """Queue replacing the users-per-slot gauge with a full sync's counts (`zone@HH:MM` ->
    users); in a MULTI pipeline a scrape never sees it half written."""
    pipe.delete(SLOT_USERS_KEY)
    if users:
        mapping: dict[str | bytes, int] = {slot: n for slot, n in users.items()}
        pipe.hset(SLOT_USERS_KEY, mapping=mapping)


def families(
    fields: Mapping[str, str], slot_users: Mapping[str, str], queue_depth: int
) -> list[Metric]:
    """Pure: the stored hash fields (as Redis returns them) as Prometheus metric families."""
    counters: dict[str, dict[str, float]] = {}
    histograms: dict[str, dict[str, dict[str, float]]] = {}
    for key, raw in fields.items():
        name, _, rest = key.partition("|")
        metric = metrics.BY_NAME.get(name)
        if metric is None:
            continue  # written by a newer or older version: not ours to describe
        value = float(raw)
        if metric.kind is Kind.COUNTER:
            counters.setdefault(name, {})[rest] = value
        else:
            labels, _, part = rest.rpartition("|")
            histograms.setdefault(name, {}).setdefault(labels, {})[part] = value
    out: list[Metric] = []
    for metric in metrics.RECORDED:
        if metric.kind is Kind.COUNTER:
            # prometheus_client adds the `_total` suffix itself.
            counter = CounterMetricFamily(
                metric.name.removesuffix("_total"), metric.help, labels=metric.labels
            )
            for labels, value in sorted(counters.get(metric.name, {}).items()):
                counter.add_metric(json.loads(labels), value)
            out.append(counter)
        else:
            histogram = HistogramMetricFamily(metric.name, metric.help, labels=metric.labels)
            for labels, parts in sorted(histograms.get(metric.name, {}).items()):
                histogram.add_metric(
                    json.loads(labels), _cumulative(metric, parts), parts.get("sum", 0.0)
                )
            out.append(histogram)
    users = GaugeMetricFamily(
        "panchang_slot_users",
        "Active users per slot (zone, local send time), as the last full sync counted them.",
        labels=("zone", "send_time"),
    )
    for slot, count in sorted(slot_users.items()):
        zone, _, send_time = slot.rpartition("@")
        users.add_metric([zone, send_time], float(count))
    out.append(users)
    out.append(
        GaugeMetricFamily(
            "panchang_queue_depth", "Tasks waiting in Celery's queue.", value=queue_depth
        )
    )
    return out


def _cumulative(metric: metrics.Metric, parts: Mapping[str, float]) -> list[tuple[str, float]]:
    # Stored per bucket; Prometheus wants each bucket to count everything at or below it.
    running = 0.0
    buckets = []
    for bound in [*(repr(float(b)) for b in metric.buckets), "+Inf"]:
        running += parts.get(bound, 0.0)
        buckets.append((bound, running))
    return buckets


class RedisCollector(Collector):
    """Collects the whole cluster's metrics from Redis at each scrape (after adding this
    process's own tally, e.g. the web process's replies)."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    def collect(self) -> Iterator[Metric]:
        flush(self._client)
        pipe = self._client.pipeline(transaction=False)
        pipe.hgetall(METRICS_KEY)
        pipe.hgetall(SLOT_USERS_KEY)
        pipe.llen(CELERY_QUEUE_KEY)
        fields, slot_users, depth = pipe.execute()
        yield from families(_text(fields), _text(slot_users), int(depth))


def _text(mapping: Mapping[Any, Any]) -> dict[str, str]:
    # The same code serves clients with and without decode_responses.
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in mapping.items()
    }
