"""Subscriber service layer: add, update, deactivate, list, CSV import; SQLite and Postgres."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text
from sqlalchemy.orm import Session, sessionmaker

from core.errors import ConflictError, NotFoundError, ValidationError
from core.settings import Settings
from models import City, User
from models.db import session_scope
from scheduler.slots import Slot
from subscribers import (
    add_user,
    deactivate_user,
    import_csv,
    list_users,
    update_user,
    view_of,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
KOLKATA = Slot("Asia/Kolkata", "06:30")
CSV_HEADER = "phone,timezone,latitude,longitude,city,send_time\n"


def snapshot(engine: Engine) -> list[Any]:
    """Every row of the subscriber tables, to prove a rejected change wrote nothing."""
    with engine.connect() as conn:
        return [
            list(conn.execute(text(f"SELECT * FROM {table} ORDER BY id")))
            for table in ("user_detail", "city_detail")
        ]


def add(sessions: sessionmaker[Session], settings: Settings, **fields: Any) -> int:
    values: dict[str, Any] = {
        "phone": "+919876543210",
        "timezone": "Asia/Kolkata",
        "latitude": 12.97,
        "longitude": 77.59,
    }
    values.update(fields)
    with session_scope(sessions) as session:
        return add_user(session, settings, NOW, **values).user.id


def run_import(sessions: sessionmaker[Session], settings: Settings, body: str, **kw: Any) -> Any:
    with session_scope(sessions) as session:
        return import_csv(session, settings, NOW, io.StringIO(CSV_HEADER + body), **kw)


# --- add ------------------------------------------------------------------------------------


def test_add_stores_the_user_and_returns_its_slot(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    with session_scope(sessions) as session:
        change = add_user(
            session,
            settings,
            NOW,
            phone=" +919876543210 ",
            timezone="Asia/Kolkata",
            latitude="12.97",
            longitude="77.59",
            city="Bengaluru",
            send_time="6:05",
        )
        assert change.slots == (Slot("Asia/Kolkata", "06:05"),)
    with session_scope(sessions) as session:
        user = session.scalars(select(User)).one()
        assert (user.phone, user.timezone, user.send_time) == (
            "+919876543210",
            "Asia/Kolkata",
            "06:05",
        )
        assert (user.latitude, user.longitude, user.created_at) == (12.97, 77.59, NOW)
        assert user.city is not None and user.city.name == "Bengaluru"


def test_add_defaults_the_send_time_to_the_setting(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    with session_scope(sessions) as session:
        change = add_user(
            session,
            settings,
            NOW,
            phone="+919876543210",
            timezone="Asia/Kolkata",
            latitude=1,
            longitude=2,
        )
        assert change.user.send_time == settings.default_send_time == "06:30"


def test_add_reuses_a_city_by_name_and_zone_and_a_new_city_takes_the_first_users_position(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    add(sessions, settings, phone="+919800000001", city="Bengaluru", latitude=12.9, longitude=77.5)
    add(sessions, settings, phone="+919800000002", city="Bengaluru", latitude=13.1, longitude=77.7)
    add(
        sessions,
        settings,
        phone="+13128482907",
        city="Bengaluru",
        timezone="America/Chicago",
        latitude=41.0,
        longitude=-88.0,
    )
    with session_scope(sessions) as session:
        cities = session.execute(
            select(City.name, City.timezone, City.latitude, City.longitude).order_by(City.id)
        ).all()
    assert [tuple(c) for c in cities] == [
        ("Bengaluru", "Asia/Kolkata", 12.9, 77.5),
        ("Bengaluru", "America/Chicago", 41.0, -88.0),
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("phone", "+0123"),
        ("timezone", "Asia/Bangalore"),
        ("latitude", "90.5"),
        ("longitude", "-180.01"),
        ("latitude", "north"),
        ("send_time", "24:00"),
    ],
)
def test_add_with_a_bad_field_names_it_and_writes_nothing(
    sessions: sessionmaker[Session],
    settings: Settings,
    engine: Engine,
    field: str,
    value: str,
) -> None:
    add(sessions, settings, phone="+919800000001", city="Mysuru")
    before = snapshot(engine)
    with pytest.raises(ValidationError) as raised, session_scope(sessions) as session:
        add_user(
            session,
            settings,
            NOW,
            **{
                "phone": "+919800000002",
                "timezone": "Asia/Kolkata",
                "latitude": 1,
                "longitude": 2,
                "city": "Hubli",
                field: value,
            },
        )
    assert (raised.value.field, raised.value.value) == (field, value)
    assert snapshot(engine) == before


@pytest.mark.parametrize("inactive", [False, True])
def test_add_refuses_a_phone_already_registered_active_or_not(
    sessions: sessionmaker[Session], settings: Settings, engine: Engine, inactive: bool
) -> None:
    user_id = add(sessions, settings)
    if inactive:
        with session_scope(sessions) as session:
            deactivate_user(session, NOW, user_id)
    before = snapshot(engine)
    with pytest.raises(ConflictError, match=r"\+919876543210") as raised:
        add(sessions, settings, city="Bengaluru")
    assert ("inactive" in str(raised.value)) is inactive
    assert snapshot(engine) == before


# --- update ---------------------------------------------------------------------------------


def test_update_returns_the_old_and_the_new_slot(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    user_id = add(sessions, settings)
    with session_scope(sessions) as session:
        change = update_user(session, NOW, user_id, timezone="Asia/Kathmandu", send_time="07:00")
    assert change.slots == (KOLKATA, Slot("Asia/Kathmandu", "07:00"))
    with session_scope(sessions) as session:
        user = session.get(User, user_id)
        assert user is not None and (user.timezone, user.send_time) == ("Asia/Kathmandu", "07:00")


def test_update_that_keeps_the_slot_returns_it_once(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    user_id = add(sessions, settings)
    with session_scope(sessions) as session:
        change = update_user(session, NOW, user_id, latitude=-33.9, longitude="151.2")
        assert (change.user.latitude, change.user.longitude) == (-33.9, 151.2)
    assert change.slots == (KOLKATA,)


def test_update_of_the_zone_moves_the_city_to_its_namesake_in_the_new_zone(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    user_id = add(sessions, settings, city="Springfield", timezone="America/Chicago")
    with session_scope(sessions) as session:
        change = update_user(session, NOW, user_id, timezone="America/New_York")
        assert change.user.city is not None
        assert (change.user.city.name, change.user.city.timezone) == (
            "Springfield",
            "America/New_York",
        )


def test_update_with_an_empty_city_removes_it_and_a_named_city_sets_it(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    user_id = add(sessions, settings, city="Bengaluru")
    with session_scope(sessions) as session:
        assert update_user(session, NOW, user_id, city="").user.city is None
    with session_scope(sessions) as session:
        city = update_user(session, NOW, user_id, city="Mysuru").user.city
        assert city is not None and (city.name, city.timezone) == ("Mysuru", "Asia/Kolkata")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timezone", "Nowhere/Town"),
        ("send_time", "6.30"),
        ("latitude", "-91"),
        ("longitude", "181"),
    ],
)
def test_update_with_a_bad_field_names_it_and_writes_nothing(
    sessions: sessionmaker[Session],
    settings: Settings,
    engine: Engine,
    field: str,
    value: str,
) -> None:
    user_id = add(sessions, settings, city="Bengaluru")
    before = snapshot(engine)
    with pytest.raises(ValidationError) as raised, session_scope(sessions) as session:
        update_user(session, NOW, user_id, city="Mysuru", **{field: value})
    assert (raised.value.field, raised.value.value) == (field, value)
    assert snapshot(engine) == before


def test_update_of_an_unknown_id_is_not_found(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    with pytest.raises(NotFoundError, match="user 404 not found"), session_scope(sessions) as s:
        update_user(s, NOW, 404, timezone="Europe/London")


# --- deactivate and list --------------------------------------------------------------------


def test_deactivate_marks_the_user_obsolete_now_and_returns_its_slot(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    user_id = add(sessions, settings)
    with session_scope(sessions) as session:
        change = deactivate_user(session, NOW, user_id)
    assert change.slots == (KOLKATA,)
    with session_scope(sessions) as session:
        user = session.get(User, user_id)
        assert user is not None and user.obsoleted_on == NOW
        assert not view_of(user, NOW).active


def test_deactivating_an_inactive_user_is_a_conflict_that_changes_nothing(
    sessions: sessionmaker[Session], settings: Settings, engine: Engine
) -> None:
    user_id = add(sessions, settings)
    with session_scope(sessions) as session:
        deactivate_user(session, NOW, user_id)
    before = snapshot(engine)
    later = NOW + timedelta(days=1)
    with pytest.raises(ConflictError, match="already inactive"), session_scope(sessions) as s:
        deactivate_user(s, later, user_id)
    assert snapshot(engine) == before


def test_deactivate_of_an_unknown_id_is_not_found(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(NotFoundError), session_scope(sessions) as session:
        deactivate_user(session, NOW, 7)


def test_list_shows_every_user_in_id_order_with_city_and_active_flag(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    first = add(sessions, settings, phone="+919800000001", city="Bengaluru")
    add(sessions, settings, phone="+447400100123", timezone="Europe/London", latitude=51.5)
    with session_scope(sessions) as session:
        deactivate_user(session, NOW, first)
    with session_scope(sessions) as session:
        views = list_users(session, NOW)
        only_london = list_users(session, NOW, "Europe/London")
    assert [(v.phone, v.city, v.active) for v in views] == [
        ("+919800000001", "Bengaluru", False),
        ("+447400100123", None, True),
    ]
    assert [v.phone for v in only_london] == ["+447400100123"]
    # A user deactivated later than the instant asked about was still active then.
    with session_scope(sessions) as session:
        assert list_users(session, NOW - timedelta(seconds=1))[0].active


def test_list_with_an_unknown_zone_names_it(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(ValidationError, match="'Asia/Calcutta2'"), session_scope(sessions) as s:
        list_users(s, NOW, "Asia/Calcutta2")


# --- CSV import -----------------------------------------------------------------------------


def test_import_inserts_good_rows_and_reports_bad_ones_by_line(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    add(sessions, settings, phone="+919999999999")
    body = (
        "+447400100001,Europe/London,51.5,-0.12,London,\n"  # line 2
        "+447400100002,Europe/Lonon,51.5,-0.12,,\n"  # 3: bad zone
        "+447400100003,Europe/London,51.5\n"  # 4: too few columns
        "+447400100001,Europe/London,51.5,-0.12,,\n"  # 5: duplicate of line 2
        "+919999999999,Asia/Kolkata,1,1,,\n"  # 6: already in the database
        "447400100004,Europe/London,0,0,,\n"  # 7: no country code
        "+447400100005,Europe/London,95,0,,\n"  # 8: latitude
        "+447400100006,Europe/London,0,-200,,\n"  # 9: longitude
        "+447400100007,Europe/London,51.5,0,,7am\n"  # 10: send time
        "\n"  # blank lines are skipped, not rejected
        '+14155992000,America/Los_Angeles,37.77,-122.42,"San Francisco, CA",05:45\n'  # 12
    )
    report = run_import(sessions, settings, body)
    assert (report.added, report.updated) == (2, 0)
    lines = [line for line, _ in report.rejected]
    assert lines == [3, 4, 5, 7, 8, 9, 10]
    # A user already there is skipped, not an error: the same file can be imported again.
    [(line, reason)] = report.skipped
    assert line == 6 and "'+919999999999' is already registered" in reason
    reasons = dict(report.rejected)
    assert "'Europe/Lonon'" in reasons[3] and "timezone" in reasons[3]
    assert "expected 6 columns" in reasons[4] and "got 3" in reasons[4]
    assert "duplicate phone '+447400100001'" in reasons[5] and "line 2" in reasons[5]
    assert "phone '447400100004'" in reasons[7]
    assert "latitude '95'" in reasons[8]
    assert "longitude '-200'" in reasons[9]
    assert "send_time '7am'" in reasons[10]
    assert report.slots == {
        Slot("Europe/London", "06:30"),
        Slot("America/Los_Angeles", "05:45"),
    }
    with session_scope(sessions) as session:
        views = {v.phone: v for v in list_users(session, NOW)}
    assert views["+14155992000"].city == "San Francisco, CA"
    assert views["+447400100001"].city == "London"
    assert len(views) == 3


def test_import_across_batches_finds_database_duplicates_and_reuses_cities(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    add(sessions, settings, phone="+919822000009", city="Pune", timezone="Asia/Kolkata")
    rows = [f"+9198220{n:05d},Asia/Kolkata,18.5,73.8,Pune,\n" for n in range(12)]
    progress: list[int] = []
    report = run_import(
        sessions, settings, "".join(rows), batch_rows=5, on_progress=progress.append
    )
    assert report.added == 11
    assert report.rejected == []
    assert [line for line, _ in report.skipped] == [11]
    assert sum(progress) == 12 and max(progress) == 5
    with session_scope(sessions) as session:
        assert session.scalars(select(City.name)).all() == ["Pune"]


def test_import_of_thousands_of_rows_inserts_a_batch_per_statement_not_a_row(
    sessions: sessionmaker[Session], settings: Settings, engine: Engine
) -> None:
    rows = [f"+4474001{n:05d},Europe/London,51.5,-0.12,City{n % 7},\n" for n in range(5000)]
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        report = run_import(sessions, settings, "".join(rows), batch_rows=1000)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert (report.added, report.rejected) == (5000, [])
    assert sum(s.startswith("INSERT INTO user_detail") for s in statements) == 5
    with session_scope(sessions) as session:
        assert len(list_users(session, NOW, "Europe/London")) == 5000
        assert len(session.scalars(select(City.id)).all()) == 7


@pytest.mark.parametrize(
    "header",
    [
        "",
        "phone,timezone,latitude,city\n",
        "phone,tz,latitude,longitude,city,send_time\n",
        "phone,latitude,longitude,phone\n",
    ],
)
def test_import_with_a_bad_header_writes_nothing(
    sessions: sessionmaker[Session], settings: Settings, engine: Engine, header: str
) -> None:
    before = snapshot(engine)
    body = header + "+447400100001,Europe/London,51.5,0,,\n" if header else ""  # "" is empty
    with (
        pytest.raises(ValidationError, match="CSV header") as raised,
        session_scope(sessions) as session,
    ):
        import_csv(session, settings, NOW, io.StringIO(body))
    assert raised.value.value == header.rstrip("\n")
    assert snapshot(engine) == before
