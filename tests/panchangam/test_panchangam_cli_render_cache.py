"""The click command, the JSON and text forms, and the caches."""

from __future__ import annotations

import json
import threading
from datetime import date

import pytest
from click.testing import CliRunner

import panchangam.day as day_module
from panchangam import cached_compute, clear_caches, compute, one_line, summary_text, to_json_dict
from panchangam.cache import LRUCache
from panchangam.command import panchangam_command

DELHI_ARGS = [
    "--date",
    "2022-01-26",
    "--lat",
    "28.6139",
    "--lon",
    "77.2090",
    "--tz",
    "Asia/Kolkata",
]
TOP_KEYS = {
    "date", "timezone", "sunrise", "sunset", "moonrise", "moonset", "vaara", "tithi",
    "nakshatra", "yoga", "karana", "rahu_kalam", "yamaganda", "gulika_kalam", "lunar_month",
    "shaka_year", "samvatsara", "ayanamsa_deg",
}  # fmt: skip


def test_cli_prints_the_readable_summary() -> None:
    result = CliRunner().invoke(panchangam_command, DELHI_ARGS)
    assert result.exit_code == 0, result.stderr
    assert "Tithi: Krishna Navami" in result.stdout
    assert "Rahu kalam: 12:34-13:54" in result.stdout


def test_cli_json_has_exactly_the_documented_keys() -> None:
    result = CliRunner().invoke(panchangam_command, [*DELHI_ARGS, "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == TOP_KEYS
    assert set(data["tithi"]) == {"number", "name", "paksha", "ends_at"}
    assert set(data["nakshatra"]) == {"number", "name", "pada", "ends_at"}
    assert set(data["yoga"]) == {"number", "name", "ends_at"}
    assert set(data["karana"]) == {"name", "ends_at", "next"}  # two karanas that day
    assert set(data["karana"]["next"]) == {"name", "ends_at"}
    for kalam in ("rahu_kalam", "yamaganda", "gulika_kalam"):
        assert set(data[kalam]) == {"start", "end"}
    assert set(data["lunar_month"]) == {"amanta", "purnimanta", "adhika"}
    assert data["sunrise"] == "2022-01-26T07:12:12+05:30"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--date", "2022-02-30", "--lat", "1", "--lon", "1", "--tz", "UTC"], "--date"),
        (["--date", "tomorrow", "--lat", "1", "--lon", "1", "--tz", "UTC"], "--date"),
        (["--lat", "90.5", "--lon", "1", "--tz", "UTC"], "invalid latitude '90.5'"),
        (["--lat", "north", "--lon", "1", "--tz", "UTC"], "invalid latitude 'north'"),
        (["--lat", "1", "--lon", "-180.5", "--tz", "UTC"], "invalid longitude '-180.5'"),
        (["--lat", "1", "--lon", "1", "--tz", "Asia/Atlantis"], "invalid timezone 'Asia/Atlantis'"),
        (["--lon", "1", "--tz", "UTC"], "--lat is required"),
        (["--date", "1850-01-01", "--lat", "1", "--lon", "1", "--tz", "UTC"], "date"),
    ],
)
def test_cli_bad_input_exits_2_with_one_clear_line(args: list[str], needle: str) -> None:
    result = CliRunner().invoke(panchangam_command, args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and needle in lines[0]


def test_summary_stays_under_whatsapp_body_limit_with_next_elements_and_long_name() -> None:
    result = compute(date(2023, 7, 31), 28.6139, 77.2090, "Asia/Kolkata")  # tithi has next
    text = summary_text(result, "X" * 300)
    assert len(text) <= 1024
    assert "then Chaturdashi" in text and "Adhika Shravana" in text
    assert "tithi" in to_json_dict(result) and "next" in to_json_dict(result)["tithi"]
    line = one_line(result, "New Delhi")
    assert "\n" not in line and "\t" not in line


def test_cached_compute_rounds_the_place_and_serves_a_city_once() -> None:
    clear_caches()
    a = cached_compute(date(2024, 5, 1), 19.07601, 72.87761, "Asia/Kolkata")
    b = cached_compute(date(2024, 5, 1), 19.0759, 72.8779, "Asia/Kolkata")
    assert a is b
    assert day_module.cache_stats()["misses"] == 1


def test_cached_compute_still_validates_input() -> None:
    from core.errors import ValidationError

    with pytest.raises(ValidationError):
        cached_compute(date(2024, 5, 1), 100.0, 0.0, "UTC")


def test_lru_computes_a_key_once_under_contention_and_evicts_oldest() -> None:
    cache: LRUCache[str, int] = LRUCache(maxsize=2)
    calls: list[int] = []
    gate = threading.Barrier(8)

    def slow() -> int:
        calls.append(1)
        return 42

    def worker() -> None:
        gate.wait()
        assert cache.get_or_compute("k", slow) == 42

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    cache.get_or_compute("a", lambda: 1)
    cache.get_or_compute("b", lambda: 2)
    assert len(cache) == 2
    assert cache.get_or_compute("k", lambda: 7) == 7  # "k" was evicted
