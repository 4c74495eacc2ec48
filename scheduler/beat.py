"""The RedBeat scheduler that understands zoned entries; `celery -A tasks beat` uses it.

Two Beat processes may run (one standby): RedBeat's lock in Redis lets only one tick, and the
lock timeout from settings is short so the standby takes over within about a minute.
"""

from __future__ import annotations

from typing import Any

from celery.signals import beat_init
from celery.utils.log import get_logger
from redbeat.schedulers import RedBeatScheduler, RedBeatSchedulerEntry, get_redis

from scheduler import codec

logger = get_logger("celery.beat")


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
        try:
            entry: ZonedRedBeatSchedulerEntry = super().from_key(key, app=app)
        except KeyError:
            raise
        except (ValueError, TypeError, AttributeError) as err:
            # One unreadable entry (hand-edited, or from a newer version) must not stop every
            # other slot: RedBeat drops a KeyError entry from the schedule set, and the next
            # sync finds it missing there and rewrites it.
            logger.error("beat: cannot decode %s (%s); skipped until the next sync", key, err)
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


class ZonedRedBeatScheduler(RedBeatScheduler):
    """RedBeat with zoned entries: every entry is loaded through our decoder."""

    Entry = ZonedRedBeatSchedulerEntry


@beat_init.connect
def _sync_when_beat_starts(sender: Any = None, **_: Any) -> None:
    """Ask a worker for a full sync as soon as this Beat holds the lock.

    RedBeat's own beat_init handler (connected before this one, at import) blocks until the
    lock is ours, so a standby Beat asks only when it takes over.
    """
    from tasks.app import SYNC_TASK

    scheduler = getattr(sender, "scheduler", None)
    if not isinstance(scheduler, ZonedRedBeatScheduler):
        return
    scheduler.app.send_task(SYNC_TASK)
    logger.info("beat: requested a RedBeat sync at start-up")
