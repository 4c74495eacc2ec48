"""A slot run through WhatsApp, in this process, against the fake Cloud API on loopback: what
each answer does to the ledger, the user and the run; halts, deferrals, dead letters, alerts."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import redis
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cli import main
from core import clock
from core.settings import Settings
from delivery.sender import RetryPolicy
from delivery.slot_run import RunSummary, run_slot
from models import Delivery, RunTrigger, SendRun, User
from tests.conftest import whatsapp_settings
from transport.configured import configured_transport

ZONE = "Asia/Kolkata"
DAY = date(2026, 11, 22)
FIRE = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)  # 06:30 in Kolkata
QUICK = RetryPolicy(max_attempts=5, base_s=0.01, cap_s=0.05)  # retries without long sleeps


def phone(n: int) -> str:
    return f"+9198450{n:05d}"


def digits(n: int) -> str:
    return phone(n).lstrip("+")


def add_users(sessions: sessionmaker[Session], count: int) -> list[int]:
    with sessions.begin() as session:
        users = [
            User(phone=phone(n), timezone=ZONE, latitude=12.97, longitude=77.59,
                 send_time="06:30", created_at=FIRE - timedelta(days=3))
            for n in range(count)
        ]  # fmt: skip
        session.add_all(users)
        session.flush()
        return [u.id for u in users]


@pytest.fixture
def wa(settings: Settings, cloud_api: Any, redis_url: str) -> Settings:
    alert_url = f"json://127.0.0.1:{cloud_api.port}/_fake/alerts"
    return whatsapp_settings(
        settings.with_redis(redis_url), cloud_api, send_concurrency=4, alert_urls=(alert_url,)
    )


def send(
    sessions: sessionmaker[Session], settings: Settings, client: redis.Redis, **kwargs: Any
) -> RunSummary:
    transport = configured_transport(settings, client)
    with clock.frozen(kwargs.pop("now", FIRE)):
        return run_slot(
            sessions, transport, settings, ZONE, "06:30", FIRE + timedelta(seconds=1),
            trigger=kwargs.pop("trigger", RunTrigger.BEAT), redis_client=client, policy=QUICK,
            **kwargs,
        )  # fmt: skip


def rows(sessions: sessionmaker[Session]) -> dict[str, Delivery]:
    with sessions() as session:
        found = session.execute(
            select(User.phone, Delivery).join(Delivery, Delivery.user_id == User.id)
        )
        return {p.lstrip("+"): d for p, d in found}


def requests_per_recipient(api: Any) -> Counter[str]:
    return Counter(r["recipient"] for r in api.requests())


def test_each_answer_lands_in_the_ledger_as_what_it_means(
    sessions: sessionmaker[Session], wa: Settings, cloud_api: Any, redis_client: redis.Redis
) -> None:
    ids = add_users(sessions, 6)
    cloud_api.script({
        digits(1): ["http:503", "accept"],
        digits(2): ["error:130429", "accept"],
        digits(3): ["error:131026"],
        digits(4): ["error:131049"],
        digits(5): ["error:130472"],
    })  # fmt: skip
    summary = send(sessions, wa, redis_client)
    assert (summary.outcome.value, summary.sent, summary.failed, summary.unreachable) == (
        "complete", 3, 3, 1,
    )  # fmt: skip
    sent = rows(sessions)
    # Accepted exactly once each, retried users after their transient failure.
    assert {n: sent[digits(n)].status for n in range(6)} == {
        0: "accepted", 1: "accepted", 2: "accepted", 3: "failed", 4: "failed", 5: "failed",
    }  # fmt: skip
    accepted = {r["message_id"] for r in cloud_api.requests() if r["status"] == 200}
    assert {sent[digits(n)].message_id for n in range(3)} == accepted
    assert [sent[digits(n)].error_code for n in range(3, 6)] == [131026, 131049, 130472]
    # Unreachable: asked once, never retried, and the user is marked so.
    assert requests_per_recipient(cloud_api) == Counter(
        {digits(0): 1, digits(1): 2, digits(2): 2, digits(3): 1, digits(4): 1, digits(5): 1}
    )
    with sessions() as session:
        user = session.get_one(User, ids[3])
    assert (user.status_at(FIRE), user.unreachable_code) == ("unreachable", 131026)
    # A second run sends to nobody: not the accepted, not the failed, not the unreachable.
    again = send(sessions, wa, redis_client, now=FIRE + timedelta(minutes=5))
    assert (again.sent, again.failed) == (0, 0)
    assert len(cloud_api.requests()) == 8  # as before the second run


def test_a_setup_error_halts_the_run_alerts_once_and_send_now_finishes_it_after_the_fix(
    sessions: sessionmaker[Session], wa: Settings, cloud_api: Any, redis_client: redis.Redis
) -> None:
    add_users(sessions, 40)
    cloud_api.script({digits(5): ["error:190"]})
    summary = send(sessions, wa, redis_client)
    assert summary.outcome.value == "halted"
    with sessions() as session:
        run = session.scalars(select(SendRun)).one()
    assert (run.error_code, run.outcome) == (190, "halted")
    requests = cloud_api.requests()
    halting = next(i for i, r in enumerate(requests) if r["error_code"] == 190)
    # After the 190, at most the requests already in flight (4 threads) went out.
    assert len(requests) - halting - 1 <= wa.send_concurrency
    assert len(requests) < 40
    [alert] = cloud_api.alerts()
    assert "halted" in alert["title"].lower() and "190" in alert["message"]
    assert wa.whatsapp.token not in json.dumps(alert)
    # The reconciler leaves a halted slot alone; a person fixes the token, then sends the rest.
    accepted_before = {p for p, d in rows(sessions).items() if d.status == "accepted"}
    env = {**wa.to_env(), "PANCHANG_OUTBOX": str(wa.outbox_path)}
    with clock.frozen(FIRE + timedelta(hours=1)):
        done = CliRunner().invoke(main, ["send-now", ZONE, "--json"], env=env)
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert (result["outcome"], result["sent"]) == ("complete", 40 - len(accepted_before))
    assert Counter(d.status for d in rows(sessions).values()) == Counter({"accepted": 40})
    per_user = requests_per_recipient(cloud_api)
    assert all(per_user[p] == 1 for p in accepted_before)  # nobody got a second message
    assert len(cloud_api.alerts()) == 1


def test_users_whose_transient_failures_outlast_their_attempts_are_deferred_to_a_later_run(
    sessions: sessionmaker[Session], wa: Settings, cloud_api: Any, redis_client: redis.Redis
) -> None:
    add_users(sessions, 3)
    cloud_api.script({digits(1): ["http:503"] * 5})
    summary = send(sessions, wa, redis_client)
    assert (summary.outcome.value, summary.sent, summary.deferred) == ("failed", 2, 1)
    row = rows(sessions)[digits(1)]
    assert (row.status, row.claimed_by, row.error_code) == ("pending", None, 131000)
    assert "after 5 attempts" in (row.error or "")
    # The reconciler's rerun sends it (the fake has run out of 503s for this user).
    rerun = send(sessions, wa, redis_client, trigger=RunTrigger.RECONCILE)
    assert (rerun.outcome.value, rerun.sent) == ("complete", 1)
    assert rows(sessions)[digits(1)].status == "accepted"


def test_dead_letters_are_listed_and_sent_again_once_retry_is_asked(
    sessions: sessionmaker[Session], wa: Settings, cloud_api: Any, redis_client: redis.Redis
) -> None:
    add_users(sessions, 4)
    cloud_api.script({digits(1): ["error:131049"], digits(2): ["error:131026"]})
    send(sessions, wa, redis_client)
    env = {**wa.to_env()}
    listed = CliRunner().invoke(main, ["failures", "--date", DAY.isoformat(), "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    failures = json.loads(listed.stdout)
    assert [(f["phone"], f["error_code"], f["attempts"]) for f in failures] == [
        (phone(1), 131049, 1), (phone(2), 131026, 1),
    ]  # fmt: skip
    by_code = CliRunner().invoke(main, ["failures", "--code", "131026", "--json"], env=env)
    assert [f["phone"] for f in json.loads(by_code.stdout)] == [phone(2)]
    with clock.frozen(FIRE + timedelta(hours=2)):
        retried = CliRunner().invoke(
            main, ["failures", "retry", "--date", DAY.isoformat()], env=env
        )
    assert retried.exit_code == 0, retried.output
    # The held-back user is sent; the unreachable one is left for `users reactivate`.
    assert "1 sent, 0 failed again" in retried.stdout
    assert {p: d.status for p, d in rows(sessions).items()}[digits(1)] == "accepted"
    assert rows(sessions)[digits(2)].status == "failed"
    assert requests_per_recipient(cloud_api)[digits(1)] == 2
    deliveries = CliRunner().invoke(main, ["deliveries", "--status", "accepted", "--json"], env=env)
    assert sorted(d["phone"] for d in json.loads(deliveries.stdout)) == [
        phone(0), phone(1), phone(3),
    ]  # fmt: skip


def test_a_slot_whose_final_failures_pass_the_threshold_alerts_once(
    sessions: sessionmaker[Session], wa: Settings, cloud_api: Any, redis_client: redis.Redis
) -> None:
    add_users(sessions, 10)
    cloud_api.script({digits(n): ["error:130472"] for n in range(2)})  # 20% fail for good
    send(sessions, wa, redis_client)
    cloud_api.script({digits(n): ["error:130472"] for n in range(2, 4)})
    send(sessions, replace(wa), redis_client, now=FIRE + timedelta(minutes=3))
    [alert] = cloud_api.alerts()
    assert alert["title"] == f"2 of 10 messages failed for {ZONE}@06:30 ({DAY})"


def test_failures_that_a_retry_fixed_raise_no_alert(
    sessions: sessionmaker[Session], wa: Settings, cloud_api: Any, redis_client: redis.Redis
) -> None:
    add_users(sessions, 4)
    cloud_api.script({digits(n): ["http:503", "error:130429", "accept"] for n in range(4)})
    summary = send(sessions, wa, redis_client)
    assert (summary.sent, summary.failed) == (4, 0)
    assert cloud_api.alerts() == []
    assert all(d.error is None and d.error_code is None for d in rows(sessions).values())


def test_an_interrupted_batch_stops_its_senders_before_releasing_their_claims(
    sessions: sessionmaker[Session], wa: Settings, cloud_api: Any, redis_client: redis.Redis
) -> None:
    """A soft time limit lands in the main thread while sending threads are mid-request: no
    row may be released while a thread could still send it."""
    import threading

    from delivery import batch as batch_module
    from delivery.slot_run import plan_run

    add_users(sessions, 30)
    with clock.frozen(FIRE):
        plan = plan_run(sessions, wa, ZONE, "06:30", FIRE + timedelta(seconds=1))
    real_join = threading.Thread.join
    joins = [0]

    def interrupted_join(self: threading.Thread, timeout: float | None = None) -> None:
        joins[0] += 1
        if joins[0] == 1:  # the first join: the task's time limit strikes
            raise TimeoutError("soft time limit")
        real_join(self, timeout)

    cloud_api.script({digits(n): ["timeout:0.3"] for n in range(30)})
    transport = configured_transport(wa, redis_client)
    try:
        threading.Thread.join = interrupted_join  # type: ignore[method-assign]
        with clock.frozen(FIRE), pytest.raises(TimeoutError):
            batch_module.send_batch(
                sessions, transport, wa, plan.batch_ids[0], redis_client=redis_client
            )
    finally:
        threading.Thread.join = real_join  # type: ignore[method-assign]
    sent = {r["recipient"] for r in cloud_api.requests()}
    released = {p for p, d in rows(sessions).items() if d.status == "pending" and not d.claimed_by}
    # Every user either got a request (and is marked accepted) or was released unsent.
    assert sent.isdisjoint(released)
    assert {p for p, d in rows(sessions).items() if d.status == "accepted"} == sent


def test_a_hindi_user_gets_the_hindi_template_with_hindi_parameters(
    sessions: sessionmaker[Session], wa: Settings, cloud_api: Any, redis_client: redis.Redis
) -> None:
    import panchangam

    ids = add_users(sessions, 2)
    with sessions.begin() as session:
        session.get_one(User, ids[1]).language = "hi"
    summary = send(sessions, wa, redis_client)
    assert (summary.outcome.value, summary.sent) == ("complete", 2)
    sent = {r["recipient"]: r for r in cloud_api.requests()}
    english, hindi = sent[digits(0)], sent[digits(1)]
    assert (english["template"], english["language"]) == ("daily_panchangam", "en")
    assert (hindi["template"], hindi["language"]) == ("daily_panchangam", "hi")
    day = panchangam.compute(DAY, 12.97, 77.59, ZONE)
    assert english["params"] == panchangam.template_parameters(day, "12.9700,77.5900")
    assert hindi["params"] == panchangam.template_parameters(day, "12.9700,77.5900", "hi")
    assert hindi["params"]["vaara"] == "रविवार"
    assert hindi["params"]["year"] == "शक 1948 पराभव"
    assert rows(sessions)[digits(1)].status == "accepted"
