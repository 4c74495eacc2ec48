"""Cities are found or created by (name, zone); a new city takes its first user's position."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import City

CityKey = tuple[str, str]  # (name, IANA zone)


def find_or_create(
    session: Session, name: str, zone: str, latitude: float, longitude: float
) -> City:
    """The city called `name` in `zone`, created at (`latitude`, `longitude`) if it is new."""
    city = session.scalar(select(City).where(City.name == name, City.timezone == zone))
    if city is None:
        city = City(name=name, timezone=zone, latitude=latitude, longitude=longitude)
        session.add(city)
        session.flush()
    return city


class CityIds:
    """Resolves many city keys to ids a batch at a time, remembering them across batches.

    An import of 100k rows names far fewer cities; one query per batch beats one per row.
    """

    def __init__(self, session: Session) -> None:
        self._session = session
        self._ids: dict[CityKey, int] = {}

    def resolve(self, wanted: Mapping[CityKey, tuple[float, float]]) -> dict[CityKey, int]:
        """Ids for every key of `wanted`; missing cities are created at the given (lat, lon)."""
        missing = {key for key in wanted if key not in self._ids}
        if missing:
            names = {name for name, _ in missing}
            rows = self._session.execute(
                select(City.id, City.name, City.timezone).where(City.name.in_(names))
            )
            for row in rows:
                self._ids[(row.name, row.timezone)] = row.id
            new = []
            for name, zone in sorted(missing - self._ids.keys()):
                latitude, longitude = wanted[(name, zone)]
                new.append(City(name=name, timezone=zone, latitude=latitude, longitude=longitude))
            if new:
                self._session.add_all(new)
                self._session.flush()
                self._ids.update({(city.name, city.timezone): city.id for city in new})
        return {key: self._ids[key] for key in wanted}
