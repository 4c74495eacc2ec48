"""`panchang health`, the pure part: what was observed in, problems and a report out.

`ops.probe` gathers an `Observed` (Redis, database, heartbeats, counts, each with a short
timeout); `evaluate` decides what is wrong, with no I/O, so every failure is testable alone.
A check that did not run (not asked for by `--role`, or behind a service that is down) is
None in the report, never a guess.

Roles, for container healthchecks:
- `web`: Redis and the database (with its schema at the newest migration).
- `worker`: those, and a fresh heartbeat from a worker process on this host.
- `beat`: Redis, and *some* Beat holding RedBeat's lock with a fresh tick. A standby Beat is
  healthy while another holds the lock: it is blocked inside RedBeat's lock acquire, where it
  can neither tick nor write anything, so its own liveness is not observable from Redis, and
  marking it unhealthy would make every standby look broken. `beat.holder.this_host` says
  whether this host is the active one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ops.heartbeats import BEAT_HEARTBEAT_TTL_LOOPS, Heartbeat, SyncRecord

ROLES = ("worker", "beat", "web")
RUN_OUTCOMES = ("complete", "missed", "failed", "halted", "abandoned", "running")


@dataclass(frozen=True)
class Thresholds:
    """When a heartbeat or a record counts as stale, in seconds."""

    # Beat ticks at least every loop (10 s) and its lock lives 3 loops (30 s): a Beat silent
    # for 3 loops has also lost, or is about to lose, the lock.
    beat_stale_s: float = 30.0
    beat_loop_s: float = 10.0
    # Workers refresh every 5 s: 4 missed refreshes in a row is a dead or wedged process.
    worker_stale_s: float = 20.0
    # Beat syncs every PANCHANG_SYNC_INTERVAL_S; one missed sync can be a busy queue, two are
    # a sync that keeps failing (or no Beat).
    sync_stale_s: float = 1200.0

    @classmethod
    def from_settings(cls, beat_max_interval_s: float, sync_interval_s: float) -> Thresholds:
        return cls(
            beat_stale_s=3 * beat_max_interval_s,
            beat_loop_s=beat_max_interval_s,
            sync_stale_s=2 * sync_interval_s,
        )


@dataclass(frozen=True)
class Observed:
    """What the probe saw. None means "not checked" (or not reachable: see the *_error)."""

    now: float  # UTC epoch s
    host: str
    role: str | None = None
    redis_error: str | None = None
    database_error: str | None = None
    schema_revision: str | None = None
    schema_head: str | None = None
    # Beat: `lock_checked` tells "no lock" (None token) from "not looked at".
    lock_checked: bool = False
    lock_token: str | None = None
    lock_key: str = "redbeat::lock"
    beat: Heartbeat | None = None
    workers: Sequence[Heartbeat] | None = None
    ping_replies: Sequence[str] | None = None
    ping_error: str | None = None
    queue_depth: int | None = None
    sync_checked: bool = False
    sync: SyncRecord | None = None
    entries_wanted: int | None = None
    entries_present: int | None = None
    entries_missing: Sequence[str] = ()
    runs_today: Mapping[str, int] | None = None
    dead_letters_today: int | None = None


@dataclass(frozen=True)
class Health:
    ok: bool
    problems: list[str]
    report: dict[str, Any] = field(default_factory=dict)


def _age(now: float, at: float) -> float:
    # Clocks of two hosts may disagree by a little: never report a negative age.
    return round(max(0.0, now - at), 1)


def evaluate(seen: Observed, limits: Thresholds) -> Health:
    """The problems in `seen`, one short line each starting with the check's name."""
    problems: list[str] = []
    role = seen.role
    full = role is None

    if seen.redis_error:
        problems.append(f"redis: {seen.redis_error}")
    if seen.database_error:
        problems.append(f"database: {seen.database_error}")
    elif seen.schema_head is not None and seen.schema_revision != seen.schema_head:
        at = seen.schema_revision or "no revision (empty database)"
        problems.append(
            f"database: schema at {at}, the newest migration is {seen.schema_head}; "
            "run `panchang db upgrade`"
        )

    beat = _beat(seen, limits, problems) if (full or role == "beat") else None
    workers = _workers(seen, limits, problems) if (full or role == "worker") else None

    last_sync_age = None
    if full and seen.sync_checked:
        if seen.sync is None:
            problems.append(
                "sync: no successful full sync recorded; is Beat running (it syncs at start-up), "
                "or does `panchang resync` fail?"
            )
        else:
            last_sync_age = _age(seen.now, seen.sync.at)
            if last_sync_age > limits.sync_stale_s:
                problems.append(
                    f"sync: the last successful sync was {last_sync_age:.0f} s ago (stale after "
                    f"{limits.sync_stale_s:.0f} s, two PANCHANG_SYNC_INTERVAL_S); check the "
                    "worker log for sync errors"
                )

    entries = None
    if seen.entries_wanted is not None:
        entries = {
            "wanted": seen.entries_wanted,
            "present": seen.entries_present,
            "missing": list(seen.entries_missing),
        }
        if seen.entries_missing:
            shown = ", ".join(list(seen.entries_missing)[:3])
            more = len(seen.entries_missing) - 3
            problems.append(
                f"entries: {len(seen.entries_missing)} slot(s) with active users have no "
                f"scheduled entry ({shown}{f' and {more} more' if more > 0 else ''}); "
                "run `panchang resync`"
            )

    today = None
    if seen.runs_today is not None:
        runs = {outcome: int(seen.runs_today.get(outcome, 0)) for outcome in RUN_OUTCOMES}
        today = {"runs": runs, "dead_letters": seen.dead_letters_today}
        # The one outcome nobody else follows up: the reconciler does not retry a halted run,
        # a person must fix the set-up (token, template) and `panchang send-now` the rest.
        if runs["halted"]:
            problems.append(
                f"runs: {runs['halted']} run(s) halted today by a WhatsApp set-up error; see "
                "`panchang runs`, fix it, then `panchang send-now`"
            )

    report: dict[str, Any] = {
        "ok": not problems,
        "role": role,
        "host": seen.host,
        "problems": problems,
        "redis": {"ok": seen.redis_error is None, "error": seen.redis_error},
        "database": None
        if seen.database_error is None and seen.schema_head is None
        else {
            "ok": not any(p.startswith("database:") for p in problems),
            "error": seen.database_error,
            "revision": seen.schema_revision,
            "head": seen.schema_head,
        },
        "beat": beat,
        "workers": workers,
        "queue_depth": seen.queue_depth,
        "last_sync_age_s": last_sync_age,
        "last_sync": None
        if seen.sync is None or not full
        else {
            "created": seen.sync.created,
            "updated": seen.sync.updated,
            "deleted": seen.sync.deleted,
        },
        "entries": entries,
        "today": today,
    }
    return Health(not problems, problems, report)


def _beat(seen: Observed, limits: Thresholds, problems: list[str]) -> dict[str, Any] | None:
    if not seen.lock_checked:
        return None
    locked = seen.lock_token is not None
    tick = seen.beat
    age = None if tick is None else _age(seen.now, tick.at)
    holder = None
    if tick is not None and locked and (tick.token is None or tick.token == seen.lock_token):
        holder = {"host": tick.host, "pid": tick.pid, "this_host": tick.host == seen.host}
    if not locked:
        problems.append(
            f"beat: no Beat holds the RedBeat lock ({seen.lock_key}); start `celery -A tasks "
            "beat` (a standby takes over within about 40 s of the active one stopping)"
        )
    if tick is None:
        ttl = BEAT_HEARTBEAT_TTL_LOOPS * limits.beat_loop_s  # the key outlives a tick this long
        problems.append(f"beat: no Beat has ticked in the last {ttl:.0f} s (no heartbeat)")
    else:
        assert age is not None
        if tick.locked is False:
            problems.append(
                f"beat: the Beat at {tick.host}:{tick.pid} lost the RedBeat lock at its last tick "
                "and stopped; a standby or a restart takes over"
            )
        elif age > limits.beat_stale_s:
            problems.append(
                f"beat: the last tick was {age:.0f} s ago by {tick.host}:{tick.pid} (stale after "
                f"{limits.beat_stale_s:.0f} s); is that Beat stuck?"
            )
        elif locked and holder is None and age > limits.beat_loop_s:
            # A Beat that has just taken the lock ticks within one loop; after that, a lock
            # without a matching tick is held by something that does not tick (a stuck or
            # foreign Beat).
            problems.append(
                f"beat: the RedBeat lock is held by a process that does not tick (the last tick "
                f"was by {tick.host}:{tick.pid}, {age:.0f} s ago)"
            )
    return {"locked": locked, "last_tick_age_s": age, "holder": holder}


def _workers(seen: Observed, limits: Thresholds, problems: list[str]) -> dict[str, Any] | None:
    if seen.workers is None:
        return None
    fresh = [w for w in seen.workers if _age(seen.now, w.at) <= limits.worker_stale_s]
    where = f"on this host ({seen.host})" if seen.role == "worker" else "anywhere"
    if not fresh:
        problems.append(
            f"workers: no worker process {where} has a heartbeat from the last "
            f"{limits.worker_stale_s:.0f} s; start `celery -A tasks worker`, or check its log"
        )
    if seen.ping_error:
        problems.append(f"workers: `celery inspect ping` failed: {seen.ping_error}")
    elif seen.ping_replies is not None and not seen.ping_replies:
        problems.append("workers: no worker answered `celery inspect ping` within 2 s")
    return {
        "fresh": len(fresh),
        "processes": [
            {"host": w.host, "pid": w.pid, "age_s": _age(seen.now, w.at)}
            for w in sorted(seen.workers, key=lambda w: (w.host, w.pid))
        ],
        "ping": None if seen.ping_replies is None else sorted(seen.ping_replies),
    }


def render_text(health: Health) -> list[str]:
    """Lines for people: a summary of what was checked, then each problem on its own line."""
    r = health.report
    lines = []
    if r["redis"]["ok"]:
        lines.append("redis       ok")
    if r["database"] is not None and r["database"]["ok"]:
        lines.append(f"database    ok (schema {r['database']['revision']})")
    if r["beat"] is not None:
        b = r["beat"]
        holder = b["holder"]
        who = (
            f"{holder['host']}:{holder['pid']}{' (this host)' if holder['this_host'] else ''}"
            if holder
            else "nobody"
        )
        tick = "never" if b["last_tick_age_s"] is None else f"{b['last_tick_age_s']:.0f} s ago"
        lines.append(f"beat        lock held by {who}; last tick {tick}")
    if r["workers"] is not None:
        lines.append(f"workers     {r['workers']['fresh']} process(es) with a fresh heartbeat")
    if r["queue_depth"] is not None:
        lines.append(f"queue       {r['queue_depth']} message(s) waiting")
    if r["last_sync_age_s"] is not None:
        lines.append(f"sync        last {r['last_sync_age_s']:.0f} s ago")
    if r["entries"] is not None:
        e = r["entries"]
        lines.append(f"entries     {e['wanted']} wanted, {e['present']} present")
    if r["today"] is not None:
        runs = ", ".join(f"{k} {v}" for k, v in r["today"]["runs"].items() if v)
        lines.append(
            f"today       runs: {runs or 'none'}; dead letters: {r['today']['dead_letters']}"
        )
    lines.append("ok" if health.ok else f"UNHEALTHY: {len(health.problems)} problem(s)")
    lines.extend(health.problems)
    return lines


# Every check `evaluate` can make, in the order a person reads them; each problem it reports
# starts with one of these names.
CHECKS = ("redis", "database", "beat", "workers", "sync", "entries", "runs")


@dataclass(frozen=True)
class Check:
    """One check's line: `ok` is None when it did not run (not asked for, or behind a service
    that is down), and `details` are its problems when failing, what was seen when passing."""

    name: str
    ok: bool | None
    details: tuple[str, ...]


def checks(health: Health) -> list[Check]:
    """One line per check, for a page that lists them.

    Pass or fail is read from `health.problems` alone, so a page can never judge a check
    differently from `panchang health`; the report only adds what a passing check saw. A
    problem under a name not in CHECKS (a check added later) still gets a failing line.
    """
    r = health.report
    failing: dict[str, list[str]] = {}
    for problem in health.problems:
        name, _, text = problem.partition(": ")
        failing.setdefault(name, []).append(text or problem)
    seen = {
        "redis": "answers",
        "database": None
        if r["database"] is None
        else f"answers; schema at the newest migration ({r['database']['revision']})",
        "beat": None if r["beat"] is None else _beat_summary(r["beat"]),
        "workers": None
        if r["workers"] is None
        else f"{r['workers']['fresh']} process(es) with a fresh heartbeat"
        + ("" if r["queue_depth"] is None else f"; {r['queue_depth']} message(s) queued"),
        "sync": None
        if r["last_sync_age_s"] is None
        else f"last full sync {r['last_sync_age_s']:.0f} s ago",
        "entries": None
        if r["entries"] is None
        else f"{r['entries']['wanted']} wanted, {r['entries']['present']} present",
        "runs": None if r["today"] is None else _today_summary(r["today"]),
    }
    lines = []
    for name in (*CHECKS, *(n for n in failing if n not in CHECKS)):
        if name in failing:
            lines.append(Check(name, False, tuple(failing[name])))
        elif seen.get(name) is not None:
            lines.append(Check(name, True, (str(seen[name]),)))
        else:
            lines.append(Check(name, None, ("not checked",)))
    return lines


def _beat_summary(beat: dict[str, Any]) -> str:
    holder = beat["holder"]
    who = f"{holder['host']}:{holder['pid']}" if holder else "nobody"
    age = beat["last_tick_age_s"]
    return f"lock held by {who}; last tick {'never' if age is None else f'{age:.0f} s ago'}"


def _today_summary(today: dict[str, Any]) -> str:
    runs = ", ".join(f"{k} {v}" for k, v in today["runs"].items() if v)
    return f"runs since 00:00 UTC: {runs or 'none'}; dead letters: {today['dead_letters']}"
