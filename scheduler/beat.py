"""The RedBeat scheduler that understands zoned entries; `celery -A tasks beat` uses it.

Two Beat processes may run (one standby): RedBeat's lock in Redis lets only one tick, and the
lock timeout from settings is short so the standby takes over within about a minute.

Under our entry prefix this Beat runs only what `scheduler.entry_check` accepts: a zoned
crontab whose zone, time, task and args match the entry's name. Anything else there is
skipped with an error naming it; RedBeat then drops it from its schedule set, which the next
sync notices and rewrites.
"""

from __future__ import annotations

from typing import Any

from celery.signals import beat_init
from celery.utils.log import get_logger
from redbeat.schedulers import RedBeatScheduler, RedBeatSchedulerEntry, get_redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import LockError, LockNotOwnedError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.names import RECONCILE_TASK, SEND_TASK, SYNC_TASK, queued_marker_key
from ops import heartbeats
from scheduler import codec
from scheduler.entry_check import problem_with

logger = get_logger("celery.beat")

DEFAULT_ENTRY_PREFIX = "panchang:send:"
# While Redis does not answer, Beat tries again this often.
REDIS_RETRY_S = 2.0
# How long a queued-but-not-started marker lives when the app carries no settings.
DEFAULT_MARKER_TTL_S = 600


def _settings_attr(app: Any, name: str, default: Any) -> Any:
    settings = getattr(app, "settings", None)
    return getattr(settings, name, default)


class ZonedRedBeatSchedulerEntry(RedBeatSchedulerEntry):
    """RedBeat entry whose definition JSON keeps a crontab's zone."""

    @staticmethod
    def decode_definition(definition: Any) -> Any:
        return codec.decode(definition)

    @staticmethod
    def load_definition(key: str, app: Any = None, definition: Any = None) -> Any:
        if definition is None:
            definition = get_redis(app).hget(key, "definition")
        if not definition:
            raise KeyError(key)
        return codec.decode(definition)

    @classmethod
    def from_key(cls, key: str, app: Any = None) -> ZonedRedBeatSchedulerEntry:
        prefix = _settings_attr(app, "entry_prefix", DEFAULT_ENTRY_PREFIX)
        key_prefix = _settings_attr(app, "redbeat_key_prefix", "redbeat:")
        name = key[len(key_prefix) :] if key.startswith(key_prefix) else key
        try:
            entry: ZonedRedBeatSchedulerEntry = super().from_key(key, app=app)
            if name.startswith(prefix):
                problem = problem_with(name, _definition_of(entry), prefix)
                if problem:
                    raise ValueError(problem)
        except KeyError:
            raise
        except (ValueError, TypeError, AttributeError) as err:
            # One bad entry must not stop every other slot. RedBeat drops a KeyError entry from
            # its schedule set; the next sync finds it missing there and rewrites it.
            logger.error("beat: entry %s cannot run as a zoned slot (%s); skipped", name, err)
            raise KeyError(key) from err
        return entry

    def save(self) -> ZonedRedBeatSchedulerEntry:
        # Same writes as RedBeat's save() (HSET definition, HSETNX meta so last_run_at survives,
        # ZADD score), with our encoder for the definition.
        definition = {
            "name": self.name,
            "task": self.task,
            "args": self.args,
            "kwargs": self.kwargs,
            "options": self.options,
            "schedule": self.schedule,
            "enabled": self.enabled,
        }
        meta = {"last_run_at": self.last_run_at}
        with get_redis(self.app).pipeline() as pipe:
            pipe.hset(self.key, "definition", codec.encode(definition))
            pipe.hsetnx(self.key, "meta", codec.encode(meta))
            pipe.zadd(self.app.redbeat_conf.schedule_key, {self.key: self.score})
            pipe.execute()
        return self


def _definition_of(entry: RedBeatSchedulerEntry) -> dict[str, Any]:
    return {"schedule": entry.schedule, "task": entry.task, "args": entry.args}


class ZonedRedBeatScheduler(RedBeatScheduler):
    """RedBeat with zoned entries: every entry is loaded through our decoder and checks."""

    Entry = ZonedRedBeatSchedulerEntry
    _redis_down = False

    def apply_async(
        self, entry: Any, producer: Any = None, advance: bool = True, **kwargs: Any
    ) -> Any:
        result = super().apply_async(entry, producer=producer, advance=advance, **kwargs)
        if entry.task == SEND_TASK and len(entry.args or ()) == 2:
            # Tell the reconciler this slot's run is queued, so it does not queue another while
            # the task waits for a worker; the task deletes the marker when it starts.
            ttl = _settings_attr(self.app, "claim_lease_s", DEFAULT_MARKER_TTL_S)
            try:
                get_redis(self.app).set(queued_marker_key(*entry.args), "beat", ex=ttl)
            except Exception as err:  # the send went out; a missing marker costs one extra run
                logger.warning("beat: could not mark %s queued: %s", entry.name, err)
        return result

    def tick(self, min: Any = min, **kwargs: Any) -> Any:
        # RedBeat's tick first extends the lock; it raises when the lock is no longer ours, and
        # Beat then stops. Only the lock holder ever gets here (a standby waits in beat_init),
        # so the heartbeat says who is active, and `locked: false` records a lost lock.
        try:
            try:
                interval = super().tick(min=min, **kwargs)
            except LockNotOwnedError:
                if not self._retake_vanished_lock():
                    self._heartbeat(locked=False)
                    raise
                interval = super().tick(min=min, **kwargs)
            self._rebuild_if_schedule_vanished()
        except LockError:
            self._heartbeat(locked=False)
            raise
        except (RedisConnectionError, RedisTimeoutError) as err:
            # Redis is down or unreachable: stay up and try again soon, as workers do. Beat
            # exiting would only make a process manager restart it into the same outage; when
            # Redis answers again the lock is extended or retaken (see above), and a slot whose
            # time passed meanwhile is due at once, or caught up by the reconciler.
            if not self._redis_down:
                logger.warning("beat: Redis does not answer (%s); retrying every %s s",
                               err, REDIS_RETRY_S)  # fmt: skip
            self._redis_down = True
            return REDIS_RETRY_S
        if self._redis_down:
            logger.warning("beat: Redis answers again")
            self._redis_down = False
        self._heartbeat(locked=bool(self.lock_key and self.lock is not None))
        return interval

    def _retake_vanished_lock(self) -> bool:
        """After Redis lost its data (FLUSHALL, a restart without persistence, a failover to a
        replica that had not caught up) our lock is simply gone: take it again and go on,
        instead of dying with "Cannot extend a lock that's no longer owned". When the key is
        there with another token, another Beat is active: False, and this one stops."""
        client = get_redis(self.app)
        if client.exists(self.lock_key):
            return False
        if not self.lock.acquire(blocking=False):
            return False  # a standby was quicker: it is the active Beat now
        logger.warning("beat: the RedBeat lock had vanished (Redis lost its data?); retaken")
        return True

    def _rebuild_if_schedule_vanished(self) -> None:
        """RedBeat keeps its schedule in Redis. When that sorted set is gone, so are the
        entries and statics: put the statics back now, and ask a worker for a full sync and then
        the send reconciler, which queues again every slot whose time passed meanwhile (within
        the grace period). Statics always exist, so an empty schedule means lost data."""
        schedule_key = self.app.redbeat_conf.schedule_key
        if get_redis(self.app).exists(schedule_key):
            return
        logger.warning("beat: %s vanished (Redis lost its data?); rebuilding", schedule_key)
        self.setup_schedule()
        _request_sync_and_reconcile(self.app)

    def _heartbeat(self, locked: bool) -> None:
        token = getattr(getattr(self.lock, "local", None), "token", None)
        if isinstance(token, bytes):
            token = token.decode()
        try:
            heartbeats.write_beat(
                get_redis(self.app), heartbeats.here(locked, token), self.max_interval
            )
        except Exception as err:  # `panchang health` reports the missing tick; Beat goes on
            logger.warning("beat: could not write the heartbeat: %s", err)


@beat_init.connect
def _sync_and_reconcile_when_beat_starts(sender: Any = None, **_: Any) -> None:
    """Ask a worker for a full sync, then the send reconciler, as soon as this Beat holds the
    lock: entries lost or created while no Beat ran exist again, and occurrences that passed
    meanwhile are caught up within grace instead of waiting for the next periodic run.

    RedBeat's own beat_init handler (connected before this one, at import) blocks until the
    lock is ours, so a standby Beat asks only when it takes over.
    """
    scheduler = getattr(sender, "scheduler", None)
    if not isinstance(scheduler, ZonedRedBeatScheduler):
        return
    _request_sync_and_reconcile(scheduler.app)
    logger.info("beat: requested a RedBeat sync and a send reconcile at start-up")
    _listen_for_user_changes(scheduler.app)


def _listen_for_user_changes(app: Any) -> None:
    """On PostgreSQL, sync a slot within seconds of any change to its users, whoever wrote it
    (see `scheduler.listener`); on SQLite the periodic full sync is the only path."""
    from scheduler.listener import SlotListener, is_postgres

    settings = getattr(app, "settings", None)
    if settings is None or not is_postgres(settings.database_url):
        return

    def sync_slots(names: list[str]) -> None:
        app.send_task(SYNC_TASK, kwargs={"only": names})
        logger.info("beat: user changes in %d slot(s): scoped sync requested", len(names))

    def sync_all() -> None:
        app.send_task(SYNC_TASK)
        logger.info("beat: listening again after a break: full sync requested")

    SlotListener(settings.database_url, sync_slots, sync_all).start()  # a daemon thread


def _request_sync_and_reconcile(app: Any) -> None:
    app.send_task(SYNC_TASK, link=app.signature(RECONCILE_TASK, immutable=True))
