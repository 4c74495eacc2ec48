"""A slot is one (IANA zone, local send time) pair: one RedBeat entry, one send task per day."""

from __future__ import annotations

from typing import NamedTuple

from core import validate
from core.errors import ValidationError


class Slot(NamedTuple):
    """One distinct (zone, 'HH:MM') of active users."""

    zone: str
    send_time: str

    def entry_name(self, prefix: str = "panchang:send:") -> str:
        """RedBeat entry name, e.g. 'panchang:send:Asia/Kolkata@06:30'."""
        return f"{prefix}{self.zone}@{self.send_time}"

    @classmethod
    def from_entry_name(cls, name: str, prefix: str = "panchang:send:") -> Slot:
        """Inverse of `entry_name`; ValidationError when `name` is not one of ours."""
        if not name.startswith(prefix) or "@" not in name:
            raise ValidationError("entry name", name, f"expected '{prefix}<zone>@<HH:MM>'")
        zone, _, send_time = name[len(prefix) :].rpartition("@")
        return cls(validate.zone(zone), validate.send_time(send_time))
