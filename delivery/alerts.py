"""Alerts to the people who run the service: through Apprise when PANCHANG_ALERT_URL names one
or more channels (mail, Slack, Telegram, a JSON webhook...), else an ERROR log line.

One alert per (kind, slot, local date), however many batches or workers see the problem: a
Redis key taken with SET NX decides who sends it.
"""

from __future__ import annotations

import logging
from datetime import date

import redis

from core.names import alert_key
from core.settings import Settings
from scheduler.slots import Slot

log = logging.getLogger(__name__)

# Long enough to cover the local date and the runs that follow it up.
DEDUPE_TTL_S = 3 * 86400


class Alerts:
    def __init__(self, settings: Settings, client: redis.Redis | None) -> None:
        self._urls = settings.alert_urls
        self._client = client

    def send(self, kind: str, slot: Slot, local_date: date, title: str, body: str) -> bool:
        """Alert once for (`kind`, `slot`, `local_date`); True when this call sent it."""
        key = alert_key(kind, slot.zone, slot.send_time, local_date.isoformat())
        return self._once(key, logging.ERROR, kind, title, body)

    def send_once(self, key: str, kind: str, title: str, body: str) -> bool:
        """Alert once per Redis `key` (not tied to a slot: the weekly summary); True when this
        call sent it. A report, not a fault: logged at INFO, so it does not page whoever
        watches ERRORs."""
        return self._once(key, logging.INFO, kind, title, body)

    def problem_once(self, key: str, kind: str, title: str, body: str) -> bool:
        """Alert once per Redis `key` about a fault that is not tied to a slot (logged at
        ERROR); True when this call sent it."""
        return self._once(key, logging.ERROR, kind, title, body)

    def _once(self, key: str, level: int, kind: str, title: str, body: str) -> bool:
        if self._client is not None:
            try:
                if not self._client.set(key, title, nx=True, ex=DEDUPE_TTL_S):
                    return False
            except redis.RedisError as err:
                log.warning("alert dedupe unavailable (%s); sending anyway", err)
        log.log(level, "ALERT %s: %s. %s", kind, title, body)
        if self._urls:
            self._notify(title, body)
        return True

    def _notify(self, title: str, body: str) -> None:
        import apprise  # imported here: it loads ~100 notification plugins

        channels = apprise.Apprise()
        for url in self._urls:
            channels.add(url)
        if not channels.notify(title=title, body=body):
            # Apprise logs the failing channel itself; the alert is in the log line above.
            log.error("alert %r could not be delivered to every PANCHANG_ALERT_URL channel", title)
