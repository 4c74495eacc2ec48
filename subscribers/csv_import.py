"""Bulk import of subscribers from CSV: good rows go in, bad rows are reported by line.

The whole file is one transaction written in batches: a crash part-way leaves nothing behind,
so the same file can simply be imported again.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from core.errors import ValidationError
from core.settings import Settings
from models import User
from scheduler.slots import Slot
from subscribers import phones
from subscribers.cities import CityIds, CityKey
from subscribers.fields import NewUser, new_user

HEADER = ("phone", "timezone", "latitude", "longitude", "city", "send_time")
# Rows per INSERT and per phone lookup: large enough to amortise round trips, small enough
# for the IN list of the duplicate check to stay far below any driver's parameter limit.
BATCH_ROWS = 1000


@dataclass
class ImportReport:
    """What an import did: users inserted, rows rejected as (line number, reason), slots touched."""

    inserted: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    slots: set[Slot] = field(default_factory=set)


def import_csv(
    session: Session,
    settings: Settings,
    now: datetime,
    lines: Iterable[str],
    *,
    batch_rows: int = BATCH_ROWS,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Insert the valid rows of CSV text `lines` (a file opened with newline="") as users.

    The header must be exactly `phone,timezone,latitude,longitude,city,send_time`; otherwise a
    ValidationError is raised before anything is written. Line numbers count the header as 1.
    `on_progress(n)` is told after every `n` data rows read.
    """
    reader = csv.reader(lines)
    try:
        header = next(reader, None)
        if header is None or tuple(header) != HEADER:
            raise ValidationError(
                "CSV header",
                ",".join(header or []),
                f"expected exactly {','.join(HEADER)!r} on line 1",
            )
        report = ImportReport()
        batch = _Batch(session, now, report)
        seen: dict[str, int] = {}  # phone -> line it was first accepted on
        unreported = 0
        for row in reader:
            if not row:  # a blank line, commonly the last one
                continue
            line = reader.line_num
            unreported += 1
            checked = _check_row(row, settings.default_send_time)
            if isinstance(checked, NewUser) and checked.phone in seen:
                first = seen[checked.phone]
                checked = f"duplicate phone {checked.phone!r}: already on line {first}"
            if isinstance(checked, str):
                report.rejected.append((line, checked))
            else:
                seen[checked.phone] = line
                batch.add(line, checked)
            if unreported >= batch_rows:
                batch.write()
                if on_progress:
                    on_progress(unreported)
                unreported = 0
        batch.write()
        if on_progress and unreported:
            on_progress(unreported)
    except csv.Error as err:
        raise ValidationError("CSV line", reader.line_num, str(err)) from err
    # Rows refused by the database check are found a batch later than the others.
    report.rejected.sort()
    return report


def _check_row(row: list[str], default_send_time: str) -> NewUser | str:
    """The row's validated fields, or the reason it is rejected."""
    if len(row) != len(HEADER):
        return f"expected {len(HEADER)} columns ({','.join(HEADER)}), got {len(row)}"
    phone, timezone, latitude, longitude, city, send_time = row
    try:
        return new_user(
            phone=phone,
            timezone=timezone,
            latitude=latitude,
            longitude=longitude,
            city=city,
            send_time=send_time,
            default_send_time=default_send_time,
        )
    except ValidationError as err:
        return str(err)


class _Batch:
    """Accepted rows waiting to be checked against the database and inserted together."""

    def __init__(self, session: Session, now: datetime, report: ImportReport) -> None:
        self._session = session
        self._now = now
        self._report = report
        self._cities = CityIds(session)
        self._rows: list[tuple[int, NewUser]] = []

    def add(self, line: int, fields: NewUser) -> None:
        self._rows.append((line, fields))

    def write(self) -> None:
        if not self._rows:
            return
        taken = phones.taken(self._session, [f.phone for _, f in self._rows], self._now)
        fresh: list[NewUser] = []
        for line, fields in self._rows:
            if fields.phone in taken:
                self._report.rejected.append((line, taken[fields.phone]))
            else:
                fresh.append(fields)
        self._rows = []
        if not fresh:
            return
        wanted: dict[CityKey, tuple[float, float]] = {}
        for f in fresh:
            if f.city:
                wanted.setdefault((f.city, f.timezone), (f.latitude, f.longitude))
        city_ids = self._cities.resolve(wanted)
        self._session.execute(
            insert(User),
            [
                {
                    "phone": f.phone,
                    "timezone": f.timezone,
                    "latitude": f.latitude,
                    "longitude": f.longitude,
                    "city_id": city_ids[(f.city, f.timezone)] if f.city else None,
                    "send_time": f.send_time,
                    "created_at": self._now,
                    "obsoleted_on": None,
                }
                for f in fresh
            ],
        )
        self._report.inserted += len(fresh)
        self._report.slots.update(f.slot for f in fresh)
