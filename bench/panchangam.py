"""Benchmark: one place-date cold and cached, and a day's batch for 5,000 cities.

Run: uv run python bench/panchangam.py
"""

from __future__ import annotations

import os
import platform
import random
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

# This file is named like the package it measures, and Python puts the script's own folder
# first on sys.path; swap it for the repository root so `import panchangam` finds the package.
_ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]
sys.path.insert(0, str(_ROOT))

import panchangam  # noqa: E402
from bench.machine import cpu_model  # noqa: E402
from panchangam import astro  # noqa: E402
from panchangam.day import day_sky  # noqa: E402

ZONES = [
    "Asia/Kolkata", "America/New_York", "America/Chicago", "America/Los_Angeles",
    "Europe/London", "Europe/Berlin", "Asia/Dubai", "Asia/Singapore", "Australia/Sydney",
    "Africa/Nairobi", "America/Toronto", "Asia/Kathmandu", "Pacific/Auckland", "UTC",
]  # fmt: skip
DAY = date(2025, 3, 9)  # a US DST change day, for good measure


def main() -> None:
    print(f"nproc={os.cpu_count()} cpu={cpu_model()!r} python={platform.python_version()}")
    t0 = time.perf_counter()
    astro._load()
    print(f"ephemeris load: {(time.perf_counter() - t0) * 1e3:.0f} ms (once per process)")

    # The very first computation also pays one-off lazy imports and numpy/zoneinfo warm-up.
    panchangam.clear_caches()
    t0 = time.perf_counter()
    panchangam.cached_compute(DAY, 28.61, 77.21, "Asia/Kolkata")
    print(f"first computation in the process: {(time.perf_counter() - t0) * 1e3:.1f} ms")

    # Truly cold place-dates: every cache emptied, a new date each time, so each one builds
    # that date's shared sky (ephemeris batch, element boundaries, new moons) and then the
    # place. This is the cost the 20 ms target is about.
    rng = random.Random(1)
    first = []
    for _ in range(100):
        panchangam.clear_caches()
        day = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 36_500))
        lat, lon = rng.uniform(-60, 60), rng.uniform(-180, 180)
        t0 = time.perf_counter()
        panchangam.cached_compute(day, lat, lon, rng.choice(ZONES))
        first.append(time.perf_counter() - t0)
    first.sort()
    print(
        f"cold place-date, nothing cached (100 random dates): median "
        f"{statistics.median(first) * 1e3:.1f} ms, p95 {first[94] * 1e3:.1f} ms, "
        f"max {first[-1] * 1e3:.1f} ms"
    )

    # Cold place-dates with the date's sky already built: what each further city costs.
    rng = random.Random(20250309)
    cold = []
    for _ in range(200):
        lat, lon = rng.uniform(-60, 60), rng.uniform(-180, 180)
        t0 = time.perf_counter()
        panchangam.cached_compute(DAY, lat, lon, rng.choice(ZONES))
        cold.append(time.perf_counter() - t0)
    p95 = sorted(cold)[int(len(cold) * 0.95)]
    print(
        "further place of a date already built (sky cached): median "
        f"{statistics.median(cold) * 1e3:.2f} ms, p95 {p95 * 1e3:.2f} ms"
    )

    hot = []
    for _ in range(2000):
        t0 = time.perf_counter()
        panchangam.cached_compute(DAY, 28.61, 77.21, "Asia/Kolkata")
        hot.append(time.perf_counter() - t0)
    print(f"cached place-date: median {statistics.median(hot) * 1e6:.1f} us")

    # A day's batch: 5,000 distinct cities (deterministic spread), all caches cold.
    panchangam.clear_caches()
    rng = random.Random(5000)
    cities = [
        (round(rng.uniform(-58, 65), 4), round(rng.uniform(-180, 180), 4), rng.choice(ZONES))
        for _ in range(5000)
    ]
    t0 = time.perf_counter()
    for lat, lon, zone in cities:
        panchangam.cached_compute(DAY, lat, lon, zone)
    batch = time.perf_counter() - t0
    print(f"5,000 cities, one day, one process, cold caches: {batch:.1f} s")

    # The next day reuses nothing but the process; a second pass over the same day is free.
    t0 = time.perf_counter()
    for lat, lon, zone in cities:
        panchangam.cached_compute(DAY, lat, lon, zone)
    print(f"same 5,000 again (all cached): {(time.perf_counter() - t0) * 1e3:.0f} ms")
    t0 = time.perf_counter()
    day_sky(DAY + timedelta(days=1))
    print(f"building one more date's shared sky: {(time.perf_counter() - t0) * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
