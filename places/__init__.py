"""Where a subscriber is: the time zone and the nearest city at their coordinates, offline."""

from places.locate import NearbyCity, nearest_city, zone_at

__all__ = ["NearbyCity", "nearest_city", "zone_at"]
