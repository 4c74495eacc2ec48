"""What each WhatsApp answer means, and what one send does about it: retries with full-jitter
backoff, never past the grace period; unreachable, hold, final and halting verdicts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from core import clock
from core.errors import FailureKind, TransportError
from delivery.sender import Halt, RetryPolicy, Verdict, deliver
from transport.base import Message, Receipt
from whatsapp.errors import classify

NOW = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
MESSAGE = Message("+919845012345", "Asia/Kolkata", date(2026, 11, 22), "06:30", "text")


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        (4, 400, FailureKind.TRANSIENT), (80007, 400, FailureKind.TRANSIENT),
        (130429, 400, FailureKind.TRANSIENT), (130429, 429, FailureKind.TRANSIENT),
        (131000, 500, FailureKind.TRANSIENT), (131016, 503, FailureKind.TRANSIENT),
        (131056, 400, FailureKind.TRANSIENT), (131057, 400, FailureKind.TRANSIENT),
        (131026, 400, FailureKind.UNREACHABLE), (131050, 400, FailureKind.UNREACHABLE),
        (0, 401, FailureKind.SETUP), (190, 401, FailureKind.SETUP), (3, 400, FailureKind.SETUP),
        (10, 403, FailureKind.SETUP), (200, 403, FailureKind.SETUP),
        (299, 403, FailureKind.SETUP), (100, 400, FailureKind.SETUP),
        (368, 400, FailureKind.SETUP), (131008, 400, FailureKind.SETUP),
        (131009, 400, FailureKind.SETUP), (132000, 400, FailureKind.SETUP),
        (132001, 404, FailureKind.SETUP), (132005, 400, FailureKind.SETUP),
        (132007, 400, FailureKind.SETUP), (132012, 400, FailureKind.SETUP),
        (132015, 400, FailureKind.SETUP), (132016, 400, FailureKind.SETUP),
        (133010, 400, FailureKind.SETUP),
        (131048, 400, FailureKind.HOLD), (131049, 400, FailureKind.HOLD),
        # By code, not status: a known transient code with a 400 is still transient.
        (130472, 400, FailureKind.FINAL), (131047, 400, FailureKind.FINAL),
        (None, 502, FailureKind.TRANSIENT), (None, None, FailureKind.TRANSIENT),
        (None, 429, FailureKind.TRANSIENT), (None, 404, FailureKind.FINAL),
        (999999, 503, FailureKind.TRANSIENT),
    ],
)  # fmt: skip
def test_every_error_code_in_metas_table_has_its_kind(
    code: int | None, status: int | None, kind: FailureKind
) -> None:
    assert classify(code, status) is kind


class Scripted:
    """Answers each send with the next step: a Receipt, or a TransportError to raise."""

    concurrency = 1

    def __init__(self, *steps: Receipt | TransportError) -> None:
        self.steps = list(steps)
        self.calls = 0

    def send(self, message: Message, halt_key: str | None = None) -> Receipt:
        self.calls += 1
        step = self.steps.pop(0)
        if isinstance(step, TransportError):
            raise step
        return step


def transient(code: int | None = 131000) -> TransportError:
    return TransportError(f"WhatsApp error {code}", kind=FailureKind.TRANSIENT, code=code)


def run(transport: Scripted, deadline: datetime | None = None, halt: Halt | None = None):  # type: ignore[no-untyped-def]
    pauses: list[float] = []
    now = [NOW]

    def sleep(seconds: float) -> None:  # time passes while a sender waits
        pauses.append(seconds)
        now[0] += timedelta(seconds=seconds)

    with clock.frozen(lambda: now[0]):
        outcome = deliver(
            transport, MESSAGE, halt or Halt(None, 1), deadline,
            RetryPolicy(max_attempts=5, base_s=1.0, cap_s=30.0), sleep, lambda: 1.0,
        )  # fmt: skip
    return outcome, pauses


def test_a_transient_failure_is_retried_and_a_success_leaves_no_failure_behind() -> None:
    ok = Receipt("accepted", "wamid.1")
    outcome, pauses = run(Scripted(transient(), transient(130429), ok))
    assert (outcome.verdict, outcome.receipt, outcome.code, outcome.error) == (
        Verdict.ACCEPTED, ok, None, None,
    )  # fmt: skip
    assert outcome.attempts == 3
    assert pauses == [1.0, 2.0]  # the jitter's upper bound here: 1, 2, 4... seconds


def test_transient_failures_stop_after_five_attempts_and_defer_the_user() -> None:
    transport = Scripted(*[transient()] * 5)
    outcome, pauses = run(transport)
    assert (outcome.verdict, outcome.attempts, outcome.code) == (Verdict.DEFERRED, 5, 131000)
    assert transport.calls == 5
    assert pauses == [1.0, 2.0, 4.0, 8.0]
    assert "after 5 attempts" in (outcome.error or "")


def test_no_retry_starts_past_the_grace_period() -> None:
    transport = Scripted(*[transient()] * 5)
    outcome, pauses = run(transport, deadline=NOW + timedelta(seconds=2.5))
    # A 1 s pause fits before the deadline; the next, 2 s more, would end past it.
    assert (outcome.verdict, transport.calls, pauses) == (Verdict.DEFERRED, 2, [1.0])
    assert "past the grace period" in (outcome.error or "")


def test_full_jitter_pauses_are_random_below_a_doubling_cap() -> None:
    policy = RetryPolicy(max_attempts=9, base_s=1.0, cap_s=30.0)
    assert [policy.pause_s(n, lambda: 1.0) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert policy.pause_s(4, lambda: 0.25) == 2.0


@pytest.mark.parametrize(
    ("kind", "verdict"),
    [
        (FailureKind.UNREACHABLE, Verdict.UNREACHABLE),
        (FailureKind.SETUP, Verdict.HALT),
        (FailureKind.HOLD, Verdict.HOLD),
        (FailureKind.FINAL, Verdict.FINAL),
    ],
)
def test_other_failures_are_not_retried(kind: FailureKind, verdict: Verdict) -> None:
    transport = Scripted(TransportError("no", kind=kind, code=7), Receipt("accepted", "x"))
    outcome, pauses = run(transport)
    assert (outcome.verdict, outcome.code, transport.calls, pauses) == (verdict, 7, 1, [])


def test_a_halted_run_sends_nothing_more() -> None:
    halt = Halt(None, 1)
    assert halt.set("error 190") is True
    transport = Scripted(Receipt("accepted", "x"))
    outcome, _ = run(transport, halt=halt)
    assert (outcome.verdict, transport.calls) == (Verdict.HALTED, 0)


def test_a_halt_set_by_another_worker_is_seen_through_redis(redis_client) -> None:  # type: ignore[no-untyped-def]
    here, elsewhere = Halt(redis_client, 42), Halt(redis_client, 42)
    assert not here.is_set()
    assert elsewhere.set("WhatsApp error 190") is True
    assert here.is_set()
    assert here.set("again") is False  # the first one halted it and alerts; nobody else
    assert not Halt(redis_client, 43).is_set()  # another run
