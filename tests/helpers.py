"""Small builders shared by tests (plain functions, no fixtures)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from models import User

_counter = iter(range(10**6))


def add_users(
    sessions: sessionmaker[Session],
    zone: str,
    send_time: str = "06:30",
    count: int = 1,
    *,
    lat: float = 12.97,
    lon: float = 77.59,
    obsoleted_on: datetime | None = None,
) -> list[int]:
    """Insert `count` users straight into the table (no validation: tests may want bad rows)."""
    with sessions() as session:
        users = [
            User(
                phone=f"+9198{next(_counter):08d}",
                timezone=zone,
                latitude=lat,
                longitude=lon,
                send_time=send_time,
                created_at=datetime(2026, 1, 1, tzinfo=UTC),
                obsoleted_on=obsoleted_on,
            )
            for _ in range(count)
        ]
        session.add_all(users)
        session.commit()
        return [u.id for u in users]
