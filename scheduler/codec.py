"""JSON for RedBeat definitions that keeps a ZonedCrontab's zone.

Stock RedBeat encodes any crontab as its five fields and decodes it back as a plain crontab in
the app's zone (UTC here): an entry meant for 06:30 in Kolkata would fire at 06:30 UTC with no
warning. We write our own `__type__` instead, which stock RedBeat cannot decode into a schedule
at all: a stock Beat that meets one of our entries fails loudly rather than firing at the wrong
hour. The JSON stays plain so `redis-cli HGET <key> definition` shows task, args, zone and time.
"""

from __future__ import annotations

import json
from typing import Any

from redbeat.decoder import RedBeatJSONDecoder, RedBeatJSONEncoder

from scheduler.zoned import ZonedCrontab

ZONED_TYPE = "panchang_zoned_crontab"


class ZonedJSONEncoder(RedBeatJSONEncoder):
    def default(self, obj: Any) -> Any:
        # Must come before the base class, which would take it for a plain crontab.
        if isinstance(obj, ZonedCrontab):
            return {"__type__": ZONED_TYPE, "timezone": obj.zone, **obj.fields()}
        return super().default(obj)


class ZonedJSONDecoder(RedBeatJSONDecoder):
    def dict_to_object(self, d: dict[str, Any]) -> Any:
        if d.get("__type__") == ZONED_TYPE:
            fields = {k: v for k, v in d.items() if k not in ("__type__", "timezone")}
            return ZonedCrontab(zone=d["timezone"], **fields)
        return super().dict_to_object(d)


def encode(value: Any) -> str:
    """Serialise a definition or meta dict; keys sorted so equal definitions are equal text."""
    return json.dumps(value, cls=ZonedJSONEncoder, sort_keys=True)


def decode(text: str | bytes) -> Any:
    return json.loads(text, cls=ZonedJSONDecoder)
