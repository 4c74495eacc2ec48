"""Whether an entry under our prefix can run as the zoned slot its name promises.

Anything can be written under `redbeat:panchang:send:` (a hand edit, a stock RedBeat client,
an older version). A stock crontab there would fire at the app's zone, UTC, with no warning;
wrong args would send another slot's users. Beat refuses such an entry (it is skipped, logged
and rewritten by the next sync) and `panchang entries` shows why.
"""

from __future__ import annotations

from typing import Any

from core.errors import ValidationError
from core.names import SEND_TASK
from scheduler.slots import Slot
from scheduler.zoned import ZonedCrontab


def problem_with(name: str, definition: Any, prefix: str) -> str | None:
    """What is wrong with entry `name` whose decoded definition is `definition`; None if
    nothing is."""
    try:
        slot = Slot.from_entry_name(name, prefix)
    except ValidationError as err:
        return f"name is not <zone>@<HH:MM>: {err}"
    if not isinstance(definition, dict):
        return "definition is not a JSON object"
    schedule = definition.get("schedule")
    if not isinstance(schedule, ZonedCrontab):
        return f"schedule is a {type(schedule).__name__}, not a zoned crontab"
    if schedule != ZonedCrontab.daily(slot.zone, slot.send_time):
        return f"schedule {schedule!r} is not daily at {slot.send_time} in {slot.zone}"
    if definition.get("task") != SEND_TASK:
        return f"task is {definition.get('task')!r}, not {SEND_TASK!r}"
    if list(definition.get("args") or []) != [slot.zone, slot.send_time]:
        return f"args are {definition.get('args')!r}, not {[slot.zone, slot.send_time]!r}"
    return None
