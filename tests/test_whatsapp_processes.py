"""WhatsApp delivery end to end with real processes: docker-compose.yml's worker (and Beat)
commands, Postgres, a real Redis, and the fake Cloud API on loopback in its own process,
whose own clock measures the rate."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
from click.testing import CliRunner
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

import redbeat_sync
from cli import main
from core.names import SEND_TASK
from core.settings import Settings, WhatsAppSettings
from delivery.local_day import occurrence_on
from models import Delivery, SendBatch, SendRun, User
from models.db import make_engine, session_factory
from tasks.app import create_app
from tests.fake_cloud_api import FakeCloudApi
from tests.faults import next_minute
from tests.helpers import scrape, serve
from tests.processes import Processes, wait_until
from web.app import create_app as create_web_app

pytestmark = pytest.mark.slow

ZONE = "Asia/Kolkata"
TOKEN = "EAAGm0PX4ZCpsBAKZ-recognisable-token-7f3e9c"
APP_SECRET = "app-secret-recognisable-51d0"


def phone(n: int) -> str:
    return f"+9198450{n:05d}"


def digits(n: int) -> str:
    return phone(n).lstrip("+")


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE delivery, send_batch, send_run, user_detail, city_detail "
                          "RESTART IDENTITY CASCADE"))  # fmt: skip
    yield engine
    engine.dispose()


@pytest.fixture
def groups(tmp_path: Path) -> Iterator[list[Any]]:
    """Processes and fake servers a test starts, stopped whatever happens."""
    held: list[Any] = []
    yield held
    for item in reversed(held):
        item.stop()


def start_api(groups: list[Any], latency_ms: float) -> FakeCloudApi:
    api = FakeCloudApi().start(token=TOKEN, latency_ms=latency_ms)
    groups.append(api)
    return api


def stack(
    postgres_url: str, redis_url: str, tmp_path: Path, api: FakeCloudApi, **changes: Any
) -> Settings:
    account = WhatsAppSettings(
        api_url=api.api_url, token=TOKEN, phone_number_id="106540352242922",
        waba_id="102290129340398", app_secret=APP_SECRET, verify_token="verify-me-41",
        rate_per_s=changes.pop("rate_per_s"),
    )  # fmt: skip
    return Settings(
        database_url=postgres_url, redis_url=redis_url, outbox_path=tmp_path / "outbox.jsonl",
        transport="whatsapp", whatsapp=account,
        alert_urls=(f"json://127.0.0.1:{api.port}/_fake/alerts",), **changes,
    )  # fmt: skip


def add_users(sessions: sessionmaker[Session], count: int, send_time: str) -> None:
    with sessions.begin() as session:
        session.add_all(
            User(phone=phone(n), timezone=ZONE, latitude=12.97, longitude=77.59,
                 send_time=send_time, created_at=datetime(2026, 1, 1, tzinfo=UTC))
            for n in range(count)
        )  # fmt: skip


def now_hhmm() -> str:
    return datetime.now(UTC).astimezone(ZoneInfo(ZONE)).strftime("%H:%M")


def runs(sessions: sessionmaker[Session]) -> list[SendRun]:
    with sessions() as session:
        return list(session.scalars(select(SendRun).order_by(SendRun.id)))


def statuses(sessions: sessionmaker[Session]) -> dict[str, str]:
    with sessions() as session:
        found = session.execute(select(User.phone, Delivery.status).join(Delivery))
        return {p.lstrip("+"): s for p, s in found}


def accepted_requests(api: FakeCloudApi) -> Counter[str]:
    return Counter(r["recipient"] for r in api.requests() if r["status"] == 200)


def test_two_workers_share_a_slot_at_the_tiers_rate_and_every_user_is_accepted_once(
    pg: Engine, postgres_url: str, redis_url: str, redis_client: redis.Redis,
    tmp_path: Path, groups: list[Any],
) -> None:  # fmt: skip
    api = start_api(groups, latency_ms=30)
    settings = stack(postgres_url, redis_url, tmp_path, api, rate_per_s=20.0,
                     send_batch_size=20, send_concurrency=8)  # fmt: skip
    sessions = session_factory(pg)
    users = 120
    send_time = now_hhmm()
    add_users(sessions, users, send_time)
    api.script({
        digits(1): ["http:503", "accept"],
        digits(2): ["error:130429", "accept"],
        digits(3): ["close", "accept"],
        digits(4): ["error:131026"],
    })  # fmt: skip
    procs = Processes(settings, tmp_path)
    groups.append(procs)
    for name in ("worker-a", "worker-b"):
        procs.start(name, "worker", "--concurrency=1", "--without-gossip", "--without-mingle")
        procs.wait_for_log(name, " ready.")
    started = time.monotonic()
    fired_at = datetime.now(UTC)
    create_app(settings).send_task(SEND_TASK, args=(ZONE, send_time))  # what Beat sends

    assert wait_until(lambda: any(r.outcome for r in runs(sessions)), 90), procs.log(
        "worker-a"
    ) + procs.log("worker-b")
    elapsed = time.monotonic() - started
    [run] = runs(sessions)
    assert (run.outcome, run.sent, run.failed, run.unreachable) == ("complete", 119, 1, 1)
    stats = api.stats()
    # The shared limit, measured at the server over every 1 s window: 20/s (+10%, +1).
    assert stats["max_in_any_1s_window"] <= 20 * 1.1 + 1, stats["per_second"]
    assert elapsed > (users + 4) / 20 - 1  # and it really was paced, not just lucky
    # Each user accepted exactly once; the retried ones asked twice, the unreachable once.
    accepted = accepted_requests(api)
    assert set(accepted) == {digits(n) for n in range(users)} - {digits(4)}
    assert set(accepted.values()) == {1}
    asked = Counter(r["recipient"] for r in api.requests())
    assert [asked[digits(n)] for n in range(1, 5)] == [2, 2, 2, 1]
    assert Counter(statuses(sessions).values()) == Counter({"accepted": 119, "failed": 1})
    # Both worker processes sent batches of the one slot.
    with sessions() as session:
        pids = set(session.scalars(select(SendBatch.pid)))
    assert len(pids) >= 2
    # The token and the app secret appear in no log line of any process.
    logs = procs.log("worker-a") + procs.log("worker-b") + api.output()
    assert "send_for_timezone" in logs and TOKEN not in logs and APP_SECRET not in logs
    # `/metrics` of a web process sees what both worker processes counted.
    requests_made = len(api.requests())
    waits = ("panchang_rate_limit_wait_seconds_count", ())
    for url in serve(create_web_app(settings, sessions, redis_client)):
        # Each worker adds its counts after its task returns, a moment after the run's outcome.
        assert wait_until(lambda: scrape(url).get(waits) == requests_made, 15), scrape(url)  # noqa: B023
        seen = scrape(url)
    assert seen[("panchang_messages_total", (("error_code", ""), ("outcome", "accepted")))] == 119
    unreachable = (("error_code", "131026"), ("outcome", "unreachable"))
    assert seen[("panchang_messages_total", unreachable)] == 1
    assert seen[("panchang_slot_runs_total", (("outcome", "complete"),))] == 1
    lag = seen[("panchang_slot_fire_lag_seconds_sum", (("trigger", "beat"),))]
    assert seen[("panchang_slot_fire_lag_seconds_count", (("trigger", "beat"),))] == 1
    # The lag is counted from the slot's send time (the start of its minute), not from when
    # the task was sent: at least that gap, plus how long the worker took to start the run.
    scheduled = occurrence_on(ZONE, send_time, fired_at.astimezone(ZoneInfo(ZONE)).date())
    waited = (fired_at - scheduled).total_seconds()
    assert waited <= lag < waited + 15, (waited, lag)
    duration = seen[("panchang_slot_duration_seconds_sum", (("outcome", "complete"),))]
    # The run's own span: what the test timed, less the wait for a worker to take the task.
    assert elapsed - 15 < duration <= elapsed + 1, (elapsed, duration)
    # 120 users at 20/s: the shared limit made them wait, several seconds in all.
    assert seen[("panchang_rate_limit_wait_seconds_sum", ())] > 10
    assert seen[("panchang_queue_depth", ())] == 0


def test_a_setup_error_halts_both_workers_alerts_once_and_send_now_finishes_the_slot(
    pg: Engine, postgres_url: str, redis_url: str, tmp_path: Path, groups: list[Any],
) -> None:  # fmt: skip
    api = start_api(groups, latency_ms=20)
    settings = stack(postgres_url, redis_url, tmp_path, api, rate_per_s=60.0,
                     send_batch_size=15, send_concurrency=4)  # fmt: skip
    sessions = session_factory(pg)
    send_time = now_hhmm()
    add_users(sessions, 90, send_time)
    api.script({digits(20): ["error:190"]})  # the token expires while the slot goes out
    procs = Processes(settings, tmp_path)
    groups.append(procs)
    for name in ("worker-a", "worker-b"):
        procs.start(name, "worker", "--concurrency=1", "--without-gossip", "--without-mingle")
        procs.wait_for_log(name, " ready.")
    create_app(settings).send_task(SEND_TASK, args=(ZONE, send_time))

    assert wait_until(lambda: any(r.outcome for r in runs(sessions)), 60)
    [run] = runs(sessions)
    assert (run.outcome, run.error_code) == ("halted", 190)
    requests = api.requests()
    halting = next(i for i, r in enumerate(requests) if r["error_code"] == 190)
    # Beyond the 190 only what was in flight then: 2 workers x 4 threads.
    assert len(requests) - halting - 1 <= 2 * settings.send_concurrency
    assert len(requests) < 90
    assert len(api.alerts()) == 1
    accepted_before = set(accepted_requests(api))
    # Fixed; the operator sends the rest the same day.
    result = CliRunner().invoke(main, ["send-now", ZONE, "--send-time", send_time, "--json"],
                                env=settings.to_env())  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["outcome"] == "complete"
    accepted = accepted_requests(api)
    assert set(accepted) == {digits(n) for n in range(90)}
    assert set(accepted.values()) == {1}  # nobody who had it got it twice
    assert accepted_before <= set(accepted)
    assert len(api.alerts()) == 1


def test_a_worker_killed_while_sending_resends_at_most_what_it_had_not_written(
    pg: Engine, postgres_url: str, redis_url: str, redis_client: redis.Redis,
    tmp_path: Path, groups: list[Any],
) -> None:  # fmt: skip
    # 300 ms a round trip, 4 at once: a kill finds requests Meta took and the worker never saw
    # answered, and answers it saw but had not yet written (marks go in groups every 10 ms,
    # while each thread has already sent its next request). The reconciler (every 3 s) starts
    # the slot; with the default lease (600 s) only the orphan sweep can hand the killed
    # batch to the fresh worker in time.
    api = start_api(groups, latency_ms=300)
    settings = stack(postgres_url, redis_url, tmp_path, api, rate_per_s=1000.0,
                     send_concurrency=4, reconcile_interval_s=3)  # fmt: skip
    sessions = session_factory(pg)
    users = 40
    add_users(sessions, users, now_hhmm())
    redbeat_sync.sync(sessions, redis_client, settings)
    procs = Processes(settings, tmp_path)
    groups.append(procs)
    procs.start("worker-a", "worker", "--concurrency=1")
    procs.start("beat", "beat")
    assert wait_until(lambda: sum(accepted_requests(api).values()) >= 8, 90), procs.log("worker-a")
    procs.kill("worker-a")
    # Per thread: one request in flight, and one answer not yet written (a group is written
    # far sooner than a round trip, so never two). A clean-clone CI run once saw exactly 8.
    unmarked_at_most = 2 * settings.send_concurrency
    procs.start("worker-b", "worker", "--concurrency=1")
    everyone = {digits(n) for n in range(users)}
    done = wait_until(lambda: set(statuses(sessions)) == everyone
                      and set(statuses(sessions).values()) == {"accepted"}, 120)  # fmt: skip
    assert done, procs.log("worker-b") + procs.log("beat")
    accepted = accepted_requests(api)
    duplicates = sum(accepted.values()) - users
    assert set(accepted) == everyone
    assert 0 <= duplicates <= unmarked_at_most, accepted
    assert [r.outcome for r in runs(sessions)] == ["complete"]
    assert "its worker process is gone" in procs.log("worker-b")


# --- storms ------------------------------------------------------------------------------------


def storm_stack(
    pg: Engine, postgres_url: str, redis_url: str, redis_client: redis.Redis, tmp_path: Path,
    groups: list[Any], users: int, slot_at: datetime,
) -> tuple[FakeCloudApi, Settings, sessionmaker[Session], Processes]:  # fmt: skip
    """The slot at `slot_at` for `users` users, Beat (reconciler every 10 s) and a worker."""
    api = start_api(groups, latency_ms=30)
    settings = stack(postgres_url, redis_url, tmp_path, api, rate_per_s=20.0,
                     send_concurrency=8, reconcile_interval_s=10)  # fmt: skip
    sessions = session_factory(pg)
    add_users(sessions, users, slot_at.astimezone(ZoneInfo(ZONE)).strftime("%H:%M"))
    redbeat_sync.sync(sessions, redis_client, settings)
    procs = Processes(settings, tmp_path)
    groups.append(procs)
    procs.start("worker", "worker", "--concurrency=2")
    procs.start("beat", "beat")
    procs.wait_for_log("beat", "Acquired lock")
    return api, settings, sessions, procs


def accepted_once_each(
    api: FakeCloudApi, settings: Settings, sessions: sessionmaker[Session], procs: Processes,
    users: int, slot_at: datetime,
) -> datetime:  # fmt: skip
    """Wait until every user is accepted; check nobody twice, within grace and within the
    rate; return when the last was accepted."""
    done = wait_until(lambda: len(accepted_requests(api)) == users, 420)
    assert done, procs.log("beat") + procs.log("worker")
    finished = datetime.now(UTC)
    time.sleep(3)  # a second acceptance, had there been one, would show up now
    accepted = accepted_requests(api)
    assert set(accepted) == {digits(n) for n in range(users)}
    assert set(accepted.values()) == {1}, accepted  # nobody accepted twice
    assert set(statuses(sessions).values()) == {"accepted"}
    stats = api.stats()
    assert stats["max_in_any_1s_window"] <= 20 * 1.1 + 1, stats["per_second"]
    assert (finished - slot_at).total_seconds() < settings.late_grace_s
    return finished


def test_a_two_minute_503_storm_from_the_slot_time_ends_with_everyone_accepted_once(
    pg: Engine, postgres_url: str, redis_url: str, redis_client: redis.Redis,
    tmp_path: Path, groups: list[Any],
) -> None:  # fmt: skip
    users = 40
    slot_at = next_minute(25)
    api, settings, sessions, procs = storm_stack(
        pg, postgres_url, redis_url, redis_client, tmp_path, groups, users, slot_at
    )
    storm_ends = slot_at + timedelta(minutes=2)
    api.script(global_mode={"mode": "storm", "status": 503, "until": storm_ends.timestamp()})

    finished = accepted_once_each(api, settings, sessions, procs, users, slot_at)
    refused = [r for r in api.requests() if r["status"] == 503]
    assert refused and all(r["time"] < storm_ends.timestamp() + 1 for r in refused)
    late = (finished - slot_at).total_seconds()
    print(f"\nFAULT storm-503: {len(refused)} requests answered 503; everyone accepted "
          f"{late:.0f} s after the slot, {(finished - storm_ends).total_seconds():.0f} s after "
          "the storm")  # fmt: skip


def test_130429_to_half_the_requests_slows_the_sender_and_everyone_is_accepted_once(
    pg: Engine, postgres_url: str, redis_url: str, redis_client: redis.Redis,
    tmp_path: Path, groups: list[Any],
) -> None:  # fmt: skip
    users = 40
    slot_at = next_minute(25)
    api, settings, sessions, procs = storm_stack(
        pg, postgres_url, redis_url, redis_client, tmp_path, groups, users, slot_at
    )
    api.script(global_mode={"mode": "ratio", "code": 130429, "share": 0.5, "seed": 7})

    finished = accepted_once_each(api, settings, sessions, procs, users, slot_at)
    throttled = [r for r in api.requests() if r["error_code"] == 130429]
    assert len(throttled) >= users // 4
    late = (finished - slot_at).total_seconds()
    print(f"\nFAULT storm-130429: {len(throttled)} requests answered 130429; everyone accepted "
          f"{late:.0f} s after the slot")  # fmt: skip
