"""Benchmark: first-call load time and memory, and per-lookup time, of places.zone_at and
places.nearest_city.

Run: uv run python bench/places.py

Each function's first call is measured in a fresh child process (so one's load does not
hide the other's); RSS is VmRSS from /proc, before and after, and the peak is VmHWM.
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

# This file is named like the package it measures, and Python puts the script's own folder
# first on sys.path; swap it for the repository root so `import places` finds the package.
_ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]
sys.path.insert(0, str(_ROOT))

import places  # noqa: E402
from bench.machine import cpu_model  # noqa: E402

LOOKUPS = 20_000


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def first_call(which: str) -> dict[str, float]:
    """In this (fresh) process: time and memory of the first call of one function."""
    call = places.zone_at if which == "zone_at" else places.nearest_city
    before = _status_kib("VmRSS")
    t0 = time.perf_counter()
    call(12.97, 77.59)
    elapsed = time.perf_counter() - t0
    return {
        "first_call_ms": elapsed * 1e3,
        "rss_added_mib": (_status_kib("VmRSS") - before) / 1024,
        "peak_rss_mib": _status_kib("VmHWM") / 1024,
        "rss_before_mib": before / 1024,
    }


def _points(rng: random.Random) -> dict[str, list[tuple[float, float]]]:
    # Near cities (where subscribers are): a random GeoNames city moved up to ~50 km.
    from places.locate import _load_cities

    cities = _load_cities()
    near = []
    for _ in range(LOOKUPS):
        i = rng.randrange(len(cities.names))
        lat = max(-90.0, min(90.0, float(cities.latitudes[i]) + rng.uniform(-0.4, 0.4)))
        lon = (float(cities.longitudes[i]) + rng.uniform(-0.4, 0.4) + 180.0) % 360.0 - 180.0
        near.append((lat, lon))
    # Anywhere on the globe, uniform on the sphere (mostly sea).
    anywhere = []
    for _ in range(LOOKUPS):
        lat = math.degrees(math.asin(rng.uniform(-1.0, 1.0)))
        anywhere.append((lat, rng.uniform(-180.0, 180.0)))
    return {"near a city": near, "anywhere": anywhere}


def _per_lookup(
    call: Callable[[float, float], object], points: list[tuple[float, float]]
) -> tuple[float, float, float]:
    times = []
    for lat, lon in points:
        t0 = time.perf_counter_ns()
        call(lat, lon)
        times.append((time.perf_counter_ns() - t0) / 1e3)
    times.sort()
    return (
        statistics.median(times),
        times[int(len(times) * 0.95)],
        statistics.fmean(times),
    )


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--first-call":
        print(json.dumps(first_call(sys.argv[2])))
        return
    print(f"nproc={os.cpu_count()} cpu={cpu_model()!r} python={platform.python_version()}")
    for which in ("zone_at", "nearest_city"):
        out = subprocess.run(
            [sys.executable, __file__, "--first-call", which],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        r = json.loads(out)
        print(
            f"{which} first call (loads its data): {r['first_call_ms']:.0f} ms, "
            f"RSS +{r['rss_added_mib']:.1f} MiB (process {r['rss_before_mib']:.1f} MiB before, "
            f"peak {r['peak_rss_mib']:.1f} MiB)"
        )
    rng = random.Random(20260114)
    points = _points(rng)
    places.zone_at(0.0, 0.0)
    for which, call in (("zone_at", places.zone_at), ("nearest_city", places.nearest_city)):
        for label, pts in points.items():
            median, p95, mean = _per_lookup(call, pts)
            print(
                f"{which} per lookup, {label} ({len(pts):,} points): median {median:.1f} us, "
                f"p95 {p95:.1f} us, mean {mean:.1f} us"
            )


if __name__ == "__main__":
    main()
