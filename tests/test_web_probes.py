"""`/healthz` and `/readyz` of `panchang web`, served by uvicorn on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings, WhatsAppSettings
from embedded.redis_server import free_port
from tests.helpers import serve
from web.app import create_app

SECRETS = WhatsAppSettings(app_secret="app-secret-8f2c", verify_token="verify-me-41")


def app_url(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[str]:
    yield from serve(create_app(settings, sessions))


@pytest.fixture
def up(settings: Settings, sessions: sessionmaker[Session], redis_url: str) -> Iterator[str]:
    yield from app_url(replace(settings.with_redis(redis_url), whatsapp=SECRETS), sessions)


@pytest.fixture
def redis_down(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[str]:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    yield from app_url(replace(settings.with_redis(closed), whatsapp=SECRETS), sessions)


def test_healthz_and_readyz_answer_200_when_redis_and_the_database_do(up: str) -> None:
    assert httpx.get(f"{up}/healthz").text == "ok"
    ready = httpx.get(f"{up}/readyz", timeout=10)
    assert (ready.status_code, ready.json()) == (200, {"ok": True, "problems": []})


def test_readyz_is_503_naming_redis_when_it_does_not_answer(redis_down: str) -> None:
    assert httpx.get(f"{redis_down}/healthz").status_code == 200  # the process itself is fine
    ready = httpx.get(f"{redis_down}/readyz", timeout=10)
    assert ready.status_code == 503
    [problem] = ready.json()["problems"]
    assert problem.startswith("redis:")
