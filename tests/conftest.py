"""Shared fixtures: real Redis and real databases (SQLite and Postgres).

A test that needs Redis or Postgres skips when the service is missing on a laptop, and fails
when PANCHANG_REQUIRE_SERVICES=1 (CI) so a missing service can never turn the suite green.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from core.errors import ServiceUnavailableError
from core.settings import Settings
from embedded import redis_server as redis_server_process
from models.db import make_engine, session_factory, upgrade

REQUIRE_SERVICES = os.environ.get("PANCHANG_REQUIRE_SERVICES") == "1"
PG_ADMIN_URL = os.environ.get(
    "PANCHANG_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)


def service_missing(what: str) -> None:
    """Skip on a laptop, fail in CI."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required (PANCHANG_REQUIRE_SERVICES=1) but not available")
    pytest.skip(f"{what} not available")


# --- Redis ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a private redis-server on a free port, for this test session only (started the
    way `panchang run` starts its own)."""
    try:
        server = redis_server_process.start(tmp_path_factory.mktemp("redis"))
    except ServiceUnavailableError as err:
        service_missing(str(err))
    yield server.url
    server.stop()


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """A Redis URL whose database is empty at the start of the test."""
    redis.Redis.from_url(redis_server).flushall()
    return redis_server


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


# --- Databases ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh Postgres database for this test session, dropped at the end."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"panchang_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as err:  # any failure here means "no Postgres"
        admin.dispose()
        service_missing(f"Postgres at {PG_ADMIN_URL} ({type(err).__name__})")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "TRUNCATE delivery, send_run, user_detail, city_detail, inbound_message,"
                    " daily_stats RESTART IDENTITY CASCADE"
                )
            )
        else:
            for table in (
                "delivery", "send_run", "user_detail", "city_detail", "inbound_message",
                "daily_stats",
            ):  # fmt: skip
                conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: a SQLite file, then the session's Postgres database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'panchang.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
    else:
        url = request.getfixturevalue("postgres_url")
        engine = make_engine(url)
        _truncate(engine)
        engine.dispose()
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings for a test: its own database and outbox; Redis is added by tests that need it."""
    return Settings(
        database_url=database_url,
        redis_url=None,
        outbox_path=tmp_path / "outbox.jsonl",
    )


@pytest.fixture(autouse=True)
def clock_not_left_frozen() -> Iterator[None]:
    """Fail a test that leaves `core.clock` frozen (a `frozen()` block entered and never left),
    and put the clock back so that one leak does not freeze every test after it."""
    from core import clock

    before = clock._now
    yield
    after = clock._now
    clock._now = before
    assert after is before, (
        "the test left core.clock frozen: clock.now() no longer reads the clock it read "
        "before the test (a clock.frozen() block entered and never exited?)"
    )


@pytest.fixture(autouse=True)
def empty_metrics_tally() -> Iterator[None]:
    """Start each test with nothing counted in this process: the tally is process-wide, and a
    scrape adds it to Redis, so what earlier tests sent in-process would show as this one's."""
    from ops import metrics

    metrics.TALLY.take()
    yield
    metrics.TALLY.take()


# --- A fake WhatsApp Cloud API --------------------------------------------------------------


@pytest.fixture(scope="session")
def cloud_api_server() -> Iterator[Any]:
    """One fake Cloud API process (tests/fake_cloud_api.py) for the session, no latency."""
    from tests.fake_cloud_api import FakeCloudApi

    api = FakeCloudApi().start()
    yield api
    api.stop()


@pytest.fixture
def cloud_api(cloud_api_server: Any) -> Any:
    """The fake Cloud API with no scripts, records, templates or alerts left by other tests."""
    cloud_api_server.reset()
    return cloud_api_server


def whatsapp_settings(settings: Settings, api: Any, **changes: Any) -> Settings:
    """`settings` sending through WhatsApp at the fake `api`."""
    from dataclasses import replace

    from core.settings import WhatsAppSettings

    account = WhatsAppSettings(
        api_url=api.api_url, token=api.token, phone_number_id="106540352242922",
        waba_id="102290129340398", app_secret="app-secret-8f2c", verify_token="verify-me-41",
        rate_per_s=changes.pop("rate_per_s", 1000.0),
    )  # fmt: skip
    return replace(settings, transport="whatsapp", whatsapp=account, **changes)
