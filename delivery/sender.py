"""Sending one message: retries with backoff, and the verdict the run acts on.

The transport makes one request per `send` and says what a failure means (`FailureKind`);
this decides what happens next:

- transient (network, 5xx, rate limits): try again after a full-jitter exponential pause
  (random between 0 and 1, 2, 4, 8 s...), at most `max_attempts` tries and never past the
  deadline (the end of the slot's grace period); when they run out the user is `deferred`:
  left pending for a later run, which the reconciler queues;
- unreachable: stop sending to this user;
- set-up broken: `halt` the run, so no further request goes out for it beyond those in flight;
- hold (spam or per-user marketing limits): not retried in this slot; recorded with its code;
- final: recorded with its code.
"""

from __future__ import annotations

import enum
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import redis

from core import clock
from core.errors import FailureKind, TransportError
from core.names import halt_key
from transport.base import Message, Receipt, Transport

log = logging.getLogger(__name__)


class Verdict(enum.StrEnum):
    ACCEPTED = "accepted"
    UNREACHABLE = "unreachable"
    HALT = "halt"  # this request met a set-up error and halted the run
    HALTED = "halted"  # not sent: the run was halted before this message's turn
    HOLD = "hold"
    FINAL = "final"
    DEFERRED = "deferred"


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    receipt: Receipt | None = None
    code: int | None = None
    error: str | None = None
    attempts: int = 0
    # For HALT: this send halted the run first (it records the halt and alerts).
    halted_first: bool = False


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_s: float = 1.0
    cap_s: float = 30.0

    def pause_s(self, failed_attempts: int, rng: Callable[[], float] = random.random) -> float:
        """Full jitter: uniform between 0 and min(cap, base * 2^(n-1)) after n failures, so
        many senders that failed together do not retry together."""
        return rng() * min(self.cap_s, self.base_s * 2 ** (failed_attempts - 1))


DEFAULT_POLICY = RetryPolicy()


class Halt:
    """A run's stop switch: set by the first set-up error, seen by every thread of this batch
    at once and by the run's other batches, on any worker, through a key in Redis.

    The transport checks the key in the same round trip that reserves a send slot (`key`), so
    no request starts after a halt was recorded anywhere; `seen()` is the free local check.
    """

    def __init__(self, client: redis.Redis | None, run_id: int, ttl_s: int = 86400) -> None:
        self._client = client
        self._key = halt_key(run_id)
        self._ttl_s = ttl_s
        self._local = False

    @property
    def key(self) -> str | None:
        """The Redis key to check before a send; None when the halt is local only."""
        return self._key if self._client is not None else None

    def seen(self) -> bool:
        """Whether this process knows the run is halted (no round trip)."""
        return self._local

    def note(self) -> None:
        """Remember a halt the transport reported."""
        self._local = True

    def is_set(self) -> bool:
        """Whether the run is halted, asking Redis when this process does not know yet."""
        if self._local:
            return True
        if self._client is not None and self._client.exists(self._key):
            self._local = True
        return self._local

    def set(self, reason: str) -> bool:
        """Halt the run; True for the caller that halted it first (it records and alerts)."""
        self._local = True
        if self._client is None:
            return True
        return bool(self._client.set(self._key, reason, nx=True, ex=self._ttl_s))


def deliver(
    transport: Transport,
    message: Message,
    halt: Halt,
    deadline: datetime | None,
    policy: RetryPolicy = DEFAULT_POLICY,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
) -> Outcome:
    """Send `message`, retrying transient failures; the verdict says what the run does.

    `deadline` (aware) is the end of the slot's grace period: no retry starts after it.
    """
    for attempt in range(1, policy.max_attempts + 1):
        if halt.seen():
            return Outcome(Verdict.HALTED, attempts=attempt - 1)
        try:
            return Outcome(Verdict.ACCEPTED, transport.send(message, halt.key), attempts=attempt)
        except TransportError as err:
            failure = err
        if failure.kind is FailureKind.HALTED:
            halt.note()
            return Outcome(Verdict.HALTED, attempts=attempt - 1)
        if failure.kind is FailureKind.SETUP:
            # Halt before anything else, so no thread or worker starts another request.
            first = halt.set(str(failure))
            return Outcome(Verdict.HALT, None, failure.code, str(failure), attempt, first)
        if failure.kind is not FailureKind.TRANSIENT:
            return _final(failure, attempt)
        pause = policy.pause_s(attempt, rng)
        late = deadline is not None and (clock.now().timestamp() + pause) > deadline.timestamp()
        if attempt == policy.max_attempts or late:
            why = "past the grace period" if late else f"after {attempt} attempts"
            return Outcome(
                Verdict.DEFERRED, code=failure.code, error=f"{failure} ({why})", attempts=attempt
            )
        sleep(pause)
    raise AssertionError("unreachable: the loop returns on its last attempt")


def _final(failure: TransportError, attempts: int) -> Outcome:
    verdict = {
        FailureKind.UNREACHABLE: Verdict.UNREACHABLE,
        FailureKind.HOLD: Verdict.HOLD,
        FailureKind.FINAL: Verdict.FINAL,
    }[failure.kind]
    return Outcome(verdict, code=failure.code, error=str(failure), attempts=attempts)
