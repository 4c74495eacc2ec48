"""Zoned schedules for RedBeat: the schedule type, its Redis codec and the Beat scheduler."""

from scheduler.slots import Slot
from scheduler.zoned import ZonedCrontab

__all__ = ["Slot", "ZonedCrontab"]
