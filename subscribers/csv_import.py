"""Bulk import of subscribers from CSV: good rows go in, bad rows are reported by line.

The whole file is one transaction written in batches: a crash part-way leaves nothing behind,
so the same file can simply be imported again, and a file imported again finds its users
already there: they are skipped (and reported), or updated with `on_existing="update"`.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from core.errors import ValidationError
from core.settings import Settings
from models import User
from scheduler.slots import Slot
from subscribers import cities
from subscribers.cities import CityIds, CityKey
from subscribers.fields import NewUser, new_user
from subscribers.phones import taken_reason

# The columns a file may have, in the order of the documented header. Only the first is
# always needed besides the position: a zone is found from the coordinates, a city is
# optional, the send time and the language have defaults.
HEADER = ("phone", "timezone", "latitude", "longitude", "city", "send_time", "language")
REQUIRED = ("phone", "latitude", "longitude")
# Rows per INSERT and per phone lookup: large enough to amortise round trips, small enough
# for the IN list of the duplicate check to stay far below any driver's parameter limit.
BATCH_ROWS = 1000

OnExisting = Literal["skip", "update"]


@dataclass
class ImportReport:
    """What an import did. Line numbers count the header as 1."""

    added: int = 0
    updated: int = 0
    # Rows of users already there, left as they are: (line, why).
    skipped: list[tuple[int, str]] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[tuple[int, str]] = field(default_factory=list)
    slots: set[Slot] = field(default_factory=set)

    def to_dict(self) -> dict[str, object]:
        def lines(items: list[tuple[int, str]]) -> list[dict[str, object]]:
            return [{"line": line, "reason": reason} for line, reason in items]

        return {
            "added": self.added,
            "updated": self.updated,
            "skipped": lines(self.skipped),
            "rejected": lines(self.rejected),
            "warnings": lines(self.warnings),
            "slots": [slot._asdict() for slot in sorted(self.slots)],
        }


@dataclass(frozen=True)
class _Row:
    line: int
    user: NewUser
    # The optional cells the file filled: only these may change a user already there.
    given: frozenset[str]


def import_csv(
    session: Session,
    settings: Settings,
    now: datetime,
    lines: Iterable[str],
    *,
    on_existing: OnExisting = "skip",
    region: str | None = None,
    batch_rows: int = BATCH_ROWS,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Add the valid rows of CSV text `lines` (a file opened with newline="") as users.

    The header names the columns, in any order: `phone`, `latitude` and `longitude` are
    required; `timezone` (default: the zone at the coordinates), `city`, `send_time` and
    `language` are optional. A bad header raises ValidationError before anything is written.
    A row whose phone is already registered is skipped, or with `on_existing="update"` updates
    that user with the cells it fills (an empty cell keeps what the user has, so a send time
    a subscriber chose on WhatsApp survives a re-import). `region` reads phone numbers written
    without a country code. `on_progress(n)` is told after every `n` data rows read.
    """
    reader = csv.reader(lines)
    try:
        columns = _columns(next(reader, None))
        report = ImportReport()
        batch = _Batch(session, now, report, on_existing)
        seen: dict[str, int] = {}  # phone -> line it was first accepted on
        unreported = 0
        for cells in reader:
            if not cells:  # a blank line, commonly the last one
                continue
            line = reader.line_num
            unreported += 1
            checked = _check_row(line, cells, columns, settings.default_send_time, region)
            if isinstance(checked, _Row) and checked.user.phone in seen:
                first = seen[checked.user.phone]
                checked = f"duplicate phone {checked.user.phone!r}: already on line {first}"
            if isinstance(checked, str):
                report.rejected.append((line, checked))
            else:
                seen[checked.user.phone] = line
                report.warnings.extend((line, w) for w in checked.user.warnings)
                batch.add(checked)
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
    for items in (report.rejected, report.skipped):
        items.sort()
    return report


def _columns(header: list[str] | None) -> dict[str, int]:
    """Column name -> index; ValidationError naming what is wrong with the header."""
    names = [name.strip().lower() for name in header or []]
    problems = []
    if missing := [name for name in REQUIRED if name not in names]:
        problems.append(f"missing {', '.join(missing)}")
    if unknown := [name for name in names if name not in HEADER]:
        problems.append(f"unknown {', '.join(repr(n) for n in unknown)}")
    if twice := sorted({name for name in names if names.count(name) > 1}):
        problems.append(f"repeated {', '.join(twice)}")
    if problems:
        raise ValidationError(
            "CSV header",
            ",".join(header or []),
            f"{'; '.join(problems)} (columns: {','.join(HEADER)}; {', '.join(REQUIRED)} required)",
        )
    return {name: index for index, name in enumerate(names)}


def _check_row(
    line: int,
    cells: list[str],
    columns: dict[str, int],
    default_send_time: str,
    region: str | None,
) -> _Row | str:
    """The row's validated fields, or the reason it is rejected."""
    if len(cells) != len(columns):
        return f"expected {len(columns)} columns ({','.join(columns)}), got {len(cells)}"
    values = {name: cells[index].strip() for name, index in columns.items()}
    try:
        user = new_user(
            phone=values["phone"],
            timezone=values.get("timezone"),
            latitude=values["latitude"],
            longitude=values["longitude"],
            city=values.get("city"),
            send_time=values.get("send_time"),
            default_send_time=default_send_time,
            language_code=values.get("language"),
            region=region,
        )
    except ValidationError as err:
        return str(err)
    given = frozenset(name for name, value in values.items() if value)
    return _Row(line, user, given)


class _Batch:
    """Accepted rows waiting to be checked against the database and written together."""

    def __init__(
        self, session: Session, now: datetime, report: ImportReport, on_existing: OnExisting
    ) -> None:
        self._session = session
        self._now = now
        self._report = report
        self._on_existing = on_existing
        self._cities = CityIds(session)
        self._rows: list[_Row] = []

    def add(self, row: _Row) -> None:
        self._rows.append(row)

    def write(self) -> None:
        if not self._rows:
            return
        rows, self._rows = self._rows, []
        existing = {
            user.phone: user
            for user in self._session.scalars(
                select(User).where(User.phone.in_([row.user.phone for row in rows]))
            )
        }
        fresh = [row.user for row in rows if row.user.phone not in existing]
        for row in rows:
            user = existing.get(row.user.phone)
            if user is None:
                continue
            if self._on_existing == "update":
                self._update(user, row)
            else:
                reason = taken_reason(user.phone, user.id, user.is_active(self._now))
                self._report.skipped.append((row.line, reason))
        if fresh:
            self._insert(fresh)

    def _update(self, user: User, row: _Row) -> None:
        """Apply the cells the row fills to `user`; an empty cell keeps the user's value."""
        new, given = row.user, row.given
        old_slot = Slot(user.timezone, user.send_time)
        moved = (user.latitude, user.longitude) != (new.latitude, new.longitude)
        before = (user.timezone, user.latitude, user.longitude, user.send_time, user.language,
                  user.city.name if user.city else None)  # fmt: skip
        user.latitude, user.longitude = new.latitude, new.longitude
        # A new position without a zone takes the zone found there; an unchanged one keeps
        # the user's zone, which an operator may have set against the coordinates on purpose.
        if "timezone" in given or moved:
            user.timezone = new.timezone
        if "send_time" in given:
            user.send_time = new.send_time
        if "language" in given:
            user.language = new.language
        city = new.city if "city" in given else (user.city.name if user.city else None)
        if city is not None and (
            user.city is None or (user.city.name, user.city.timezone) != (city, user.timezone)
        ):
            user.city = cities.find_or_create(
                self._session, city, user.timezone, user.latitude, user.longitude
            )
        after = (user.timezone, user.latitude, user.longitude, user.send_time, user.language,
                 user.city.name if user.city else None)  # fmt: skip
        if after == before:
            self._report.skipped.append((row.line, f"user {user.id} {user.phone}: unchanged"))
            return
        self._session.flush()
        self._report.updated += 1
        self._report.slots.update({old_slot, Slot(user.timezone, user.send_time)})

    def _insert(self, fresh: list[NewUser]) -> None:
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
                    "language": f.language,
                    "created_at": self._now,
                    "obsoleted_on": None,
                }
                for f in fresh
            ],
        )
        self._report.added += len(fresh)
        self._report.slots.update(f.slot for f in fresh)
