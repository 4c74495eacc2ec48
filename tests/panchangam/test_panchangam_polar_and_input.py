"""Days without sunrise or sunset, and invalid input."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from core.errors import ValidationError
from panchangam import compute, summary_text, to_json_dict

LONGYEARBYEN = (78.22, 15.65, "Arctic/Longyearbyen")


@pytest.mark.parametrize(
    "day", [date(2024, 6, 21), date(2024, 12, 21)], ids=["midnight-sun", "polar-night"]
)
def test_day_without_sunrise_or_sunset_takes_elements_at_local_six(day: date) -> None:
    result = compute(day, *LONGYEARBYEN)
    assert result.sunrise is None and result.sunset is None
    assert result.rahu_kalam is None and result.yamaganda is None and result.gulika_kalam is None
    assert result.reference == datetime.combine(day, time(6), tzinfo=result.reference.tzinfo)
    assert result.tithi.ends_at > result.reference
    data = to_json_dict(result)
    assert data["sunrise"] is None and data["rahu_kalam"] is None
    assert "No sunrise" in summary_text(result)


def test_high_latitude_summer_day_with_a_sunrise_has_a_long_day() -> None:
    # Tromso in early May: the Sun still sets, for a few hours only.
    result = compute(date(2024, 5, 10), 69.65, 18.96, "Europe/Oslo")
    assert result.sunrise is not None and result.sunset is not None
    assert (result.sunset - result.sunrise).total_seconds() > 18 * 3600


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((date(2024, 1, 1), 91.0, 0.0, "UTC"), "latitude"),
        ((date(2024, 1, 1), -90.5, 0.0, "UTC"), "latitude"),
        ((date(2024, 1, 1), float("nan"), 0.0, "UTC"), "latitude"),
        ((date(2024, 1, 1), 0.0, 180.1, "UTC"), "longitude"),
        ((date(2024, 1, 1), 0.0, "east", "UTC"), "longitude"),
        ((date(2024, 1, 1), 0.0, 0.0, "Mars/Olympus"), "timezone"),
        ((date(2024, 1, 1), 0.0, 0.0, ""), "timezone"),
        ((date(1800, 1, 1), 0.0, 0.0, "UTC"), "date"),
        (("2024-01-01", 0.0, 0.0, "UTC"), "date"),
    ],
)
def test_invalid_input_raises_validation_error_naming_the_field(args: tuple, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        compute(*args)
    assert info.value.field == field
    assert field in str(info.value)
