"""One rate limit for the business phone number, shared by every process on every machine.

WhatsApp caps a number's throughput (80 messages/s by default, 1,000 for large senders) and
answers 130429 above it. Celery's own `rate_limit` is per worker process, so the limit lives in
Redis: a GCRA ("generic cell rate algorithm") kept as one timestamp, the theoretical arrival
time (TAT) of the next message. Each send reserves the next free slot in one atomic script and
sleeps until it (less a small burst tolerance); slots are `1 / rate` seconds apart, so in any
one second at most 5% more than `rate` (+1 at the edges) requests start, however many
processes ask. Redis's own clock (TIME) is the only
clock used, so machines whose clocks disagree still share one schedule.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

from core.errors import FailureKind, TransportError
from ops import metrics

# KEYS[1]: the TAT, in microseconds of Redis time. KEYS[2], optional: the run's halt key.
# ARGV[1]: microseconds between sends. ARGV[2]: a pause to add first (0, or a penalty after
# error 130429). ARGV[3]: the burst tolerance, in microseconds. Returns how many microseconds
# the caller must wait before sending, or -1 without reserving anything when the run is
# halted: one round trip answers both questions.
_RESERVE = """
if KEYS[2] and redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
tat = tat + tonumber(ARGV[2])
local next_tat = tat + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX',
           math.ceil((next_tat - now) / 1000) + 1000)
local wait = tat - now - tonumber(ARGV[3])
if wait < 0 then return 0 end
return wait
"""

# After a 130429 every process pauses this long before its next slot: Meta counts the
# number's throughput over its own window, and sending on at the same rate would keep failing.
THROUGHPUT_PENALTY_S = 1.0
# A send may start this share of a second before its slot. Slots stay 1/rate apart, so over
# time the rate holds exactly; within any one second at most rate * (1 + BURST_SHARE) + 1
# requests start. Without it, a thread woken a few ms late (it needs the GIL, in a busy
# process) loses its slot for good: 1,000/s slots yielded about 815 sends/s on 2 cores.
BURST_SHARE = 0.05


class RateLimiter:
    """`wait()` before each request; `slow_down()` when WhatsApp said 130429."""

    def __init__(
        self,
        client: redis.Redis,
        key: str,
        rate_per_s: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.key = key
        self.interval_us = round(1_000_000 / rate_per_s)
        self.burst_us = round(1_000_000 * BURST_SHARE)
        self._reserve = client.register_script(_RESERVE)
        self._sleep = sleep

    def wait(self, halt_key: str | None = None) -> float:
        """Reserve the next slot and sleep until it; returns the seconds slept.

        TransportError (kind HALTED) instead, reserving nothing, when `halt_key` is set.
        """
        waited = self._take(0, halt_key=halt_key)
        metrics.TALLY.observe(metrics.RATE_WAIT, waited)
        return waited

    def slow_down(self, penalty_s: float = THROUGHPUT_PENALTY_S) -> None:
        """Push every process's next slot back by `penalty_s` (without sending)."""
        self._take(round(penalty_s * 1_000_000), sleep=False)

    def _take(self, penalty_us: int, sleep: bool = True, halt_key: str | None = None) -> float:
        keys = [self.key, halt_key] if halt_key else [self.key]
        try:
            wait_us = int(
                self._reserve(keys=keys, args=[self.interval_us, penalty_us, self.burst_us])
            )
        except redis.RedisError as err:
            # No limiter, no sending: going on unthrottled would earn 130429s for everyone.
            raise TransportError(
                f"rate limiter unavailable ({type(err).__name__}: {err})",
                kind=FailureKind.TRANSIENT,
            ) from err
        if wait_us < 0:
            raise TransportError("not sent: the run was halted", kind=FailureKind.HALTED)
        seconds = wait_us / 1_000_000
        if sleep and seconds > 0:
            self._sleep(seconds)
        return seconds
