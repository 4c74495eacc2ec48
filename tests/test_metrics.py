"""Metrics: counted in each process, added up in Redis, read by any web process's `/metrics`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis
from sqlalchemy.orm import Session, sessionmaker

import redbeat_sync
from core.settings import Settings, WhatsAppSettings
from delivery import runs
from delivery.runs import Worker
from embedded.redis_server import free_port
from models import RunOutcome, RunTrigger, User
from ops import metrics
from ops.metrics import FIRE_LAG, MESSAGES, RATE_WAIT, Tally
from ops.metrics_redis import families, flush
from tests.helpers import add_users, scrape, serve
from web.app import create_app
from whatsapp.rate_limit import RateLimiter

SECRETS = WhatsAppSettings(app_secret="app-secret-8f2c", verify_token="verify-me-41")


@pytest.fixture
def web(settings: Settings, sessions: sessionmaker[Session], redis_url: str) -> Iterator[str]:
    app = create_app(replace(settings.with_redis(redis_url), whatsapp=SECRETS), sessions)
    yield from serve(app)


# --- Pure ------------------------------------------------------------------------------------


def test_an_observation_lands_in_the_first_bucket_whose_bound_is_not_below_it() -> None:
    assert metrics.bucket_of(FIRE_LAG, -3.0) == "0.5"  # early runs count as on time
    assert metrics.bucket_of(FIRE_LAG, 0.5) == "0.5"  # Prometheus buckets are `le`
    assert metrics.bucket_of(FIRE_LAG, 0.51) == "1.0"
    assert metrics.bucket_of(FIRE_LAG, 3600.0) == "3600.0"
    assert metrics.bucket_of(FIRE_LAG, 3600.1) == "+Inf"


def test_histogram_buckets_are_cumulative_in_the_exposition() -> None:
    tally = Tally()
    for lag in (0.2, 0.7, 0.9, 45.0, 7200.0):
        tally.observe(FIRE_LAG, lag, trigger="beat")
    [family] = [f for f in families({k: str(v) for k, v in tally.take().items()}, {}, 0)
                if f.name == FIRE_LAG.name]  # fmt: skip
    buckets = {s.labels["le"]: s.value for s in family.samples if s.name.endswith("_bucket")}
    assert (buckets["0.5"], buckets["1.0"], buckets["30.0"], buckets["60.0"]) == (1, 3, 3, 4)
    assert buckets["3600.0"] == 4 and buckets["+Inf"] == 5
    totals = {s.name: s.value for s in family.samples if not s.name.endswith("_bucket")}
    assert totals[f"{FIRE_LAG.name}_count"] == 5
    assert totals[f"{FIRE_LAG.name}_sum"] == pytest.approx(7246.8)


def test_a_metric_refuses_labels_it_does_not_have() -> None:
    with pytest.raises(ValueError, match="panchang_messages_total takes labels"):
        Tally().inc(MESSAGES, outcome="accepted")  # no error_code


def test_fields_of_another_version_are_left_out_not_misread() -> None:
    out = families({"panchang_retired_total|[]": "3", 'panchang_messages_total|["x", ""]': "2"},
                   {}, 0)  # fmt: skip
    names = {s.name for f in out for s in f.samples}
    assert "panchang_retired_total" not in names and "panchang_messages_total" in names


# --- Real Redis ------------------------------------------------------------------------------


def test_counts_of_separate_processes_add_up(redis_url: str, redis_client: redis.Redis) -> None:
    script = (
        "import sys, redis\n"
        "from ops import metrics\n"
        "from ops.metrics_redis import flush\n"
        "for _ in range(250):\n"
        "    metrics.TALLY.inc(metrics.MESSAGES, outcome='accepted', error_code='')\n"
        "metrics.TALLY.inc(metrics.MESSAGES, outcome='unreachable', error_code='131026')\n"
        "flush(redis.Redis.from_url(sys.argv[1]))\n"
    )
    workers = [subprocess.Popen([sys.executable, "-c", script, redis_url]) for _ in range(4)]
    assert [w.wait(60) for w in workers] == [0] * 4
    seen = {
        tuple(sorted(s.labels.items())): s.value
        for f in families(redis_client.hgetall("panchang:metrics"), {}, 0)
        for s in f.samples
        if s.name == "panchang_messages_total"
    }
    assert seen == {
        (("error_code", ""), ("outcome", "accepted")): 1000.0,
        (("error_code", "131026"), ("outcome", "unreachable")): 4.0,
    }


def test_a_flush_while_redis_is_away_keeps_the_counts_for_the_next(
    redis_client: redis.Redis,
) -> None:
    metrics.TALLY.inc(MESSAGES, 3, outcome="accepted", error_code="")
    away = redis.Redis(port=free_port(), socket_connect_timeout=0.5)
    flush(away)  # logged, not raised: the sends it counted went out all the same
    flush(redis_client)
    assert redis_client.hgetall("panchang:metrics") == {
        'panchang_messages_total|["accepted", ""]': "3"
    }


def test_the_rate_limiter_reports_every_wait(redis_client: redis.Redis) -> None:
    slept: list[float] = []
    limiter = RateLimiter(redis_client, "panchang:ratelimit:test", 20.0, sleep=slept.append)
    for _ in range(10):
        limiter.wait()
    flush(redis_client)
    fields = redis_client.hgetall("panchang:metrics")
    assert float(fields[f"{RATE_WAIT.name}|[]|count"]) == 10
    # 10 sends at 20/s: the later ones waited their turn, 50 ms apart (less the burst allowance).
    assert float(fields[f"{RATE_WAIT.name}|[]|sum"]) == pytest.approx(sum(slept))
    assert sum(slept) > 1.0


def test_metrics_page_shows_a_sync_and_the_ends_of_runs(
    web: str, settings: Settings, sessions: sessionmaker[Session], redis_client: redis.Redis
) -> None:
    add_users(sessions, "Asia/Kolkata", "06:30", 7)
    london = add_users(sessions, "Europe/London", "07:00", 2, lat=51.51, lon=-0.13)
    redbeat_sync.sync(sessions, redis_client, settings)
    start = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
    with sessions.begin() as session:
        one = runs.start_run(session, "Asia/Kolkata", "06:30", start.date(), start,
                             RunTrigger.BEAT, Worker.here())  # fmt: skip
        two = runs.start_run(session, "Europe/London", "07:00", start.date(), start,
                             RunTrigger.BEAT, Worker.here())  # fmt: skip
        assert runs.end_run(session, one, RunOutcome.COMPLETE, start + timedelta(seconds=42))
        assert runs.end_run(session, two, RunOutcome.MISSED, start + timedelta(seconds=1))
        # A second outcome for the same run changes nothing, and counts nothing.
        assert not runs.end_run(session, one, RunOutcome.FAILED, start + timedelta(seconds=50))
    flush(redis_client)
    seen = scrape(web)
    assert seen[("panchang_slot_users", (("send_time", "06:30"), ("zone", "Asia/Kolkata")))] == 7
    assert seen[("panchang_slot_users", (("send_time", "07:00"), ("zone", "Europe/London")))] == 2
    assert seen[("panchang_sync_changes_total", (("change", "created"),))] == 2
    assert seen[("panchang_sync_duration_seconds_count", (("scope", "full"),))] == 1
    assert seen[("panchang_slot_runs_total", (("outcome", "complete"),))] == 1
    assert seen[("panchang_slot_runs_total", (("outcome", "missed"),))] == 1
    assert ("panchang_slot_runs_total", (("outcome", "failed"),)) not in seen
    # Only the run that sent has a duration: 42 s, in the 60 s bucket and not the 30 s one.
    duration = "panchang_slot_duration_seconds"
    assert seen[(f"{duration}_sum", (("outcome", "complete"),))] == 42
    assert seen[(f"{duration}_bucket", (("le", "30.0"), ("outcome", "complete")))] == 0
    assert seen[(f"{duration}_bucket", (("le", "60.0"), ("outcome", "complete")))] == 1
    assert (f"{duration}_count", (("outcome", "missed"),)) not in seen
    assert seen[("panchang_queue_depth", ())] == 0
    # The users leave one slot: the next full sync's gauge forgets it.
    with sessions.begin() as session:
        for user_id in london:
            session.get_one(User, user_id).obsoleted_on = start
    redbeat_sync.sync(sessions, redis_client, settings)
    seen = scrape(web)
    assert ("panchang_slot_users", (("send_time", "07:00"), ("zone", "Europe/London"))) not in seen
    assert seen[("panchang_sync_changes_total", (("change", "deleted"),))] == 1
    assert seen[("panchang_sync_duration_seconds_count", (("scope", "full"),))] == 2


def test_metrics_answer_503_when_redis_does_not(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    for url in serve(create_app(replace(settings.with_redis(closed), whatsapp=SECRETS), sessions)):
        answer = httpx.get(f"{url}/metrics", timeout=15)
        assert answer.status_code == 503
        assert "cannot read metrics from Redis" in answer.text
