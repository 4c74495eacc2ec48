"""docker-compose.yml describes the layout the tests run for real: Redis, Postgres, a
migration step, `celery -A tasks worker` and `celery -A tasks beat`, and no cron."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from core.settings import Settings

COMPOSE = Path(__file__).resolve().parent.parent / "docker-compose.yml"


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def service_command(name: str) -> list[str]:
    """The command of a compose service (used by the real-process Beat test too)."""
    command: list[str] = compose()["services"][name]["command"]
    return command


def test_compose_runs_redis_postgres_worker_and_beat() -> None:
    services = compose()["services"]
    assert {"redis", "postgres", "migrate", "worker", "beat"} <= set(services)
    assert services["redis"]["image"].startswith("redis:")
    assert services["postgres"]["image"].startswith("postgres:")


def test_worker_and_beat_are_plain_celery_commands_with_no_scheduler_flag() -> None:
    assert service_command("worker")[:4] == ["celery", "-A", "tasks", "worker"]
    assert service_command("beat")[:4] == ["celery", "-A", "tasks", "beat"]
    # The zoned scheduler comes from the app's config, so no -S/--scheduler is needed.
    for name in ("worker", "beat"):
        assert not any(arg.startswith(("-S", "--scheduler")) for arg in service_command(name))


def test_app_services_get_every_setting_from_the_environment() -> None:
    services = compose()["services"]
    for name in ("migrate", "worker", "beat"):
        env = services[name]["environment"]
        settings = Settings.from_env(env)
        assert settings.database_url.startswith("postgresql")
        assert settings.redis_url == "redis://redis:6379/0"
        assert set(env) >= set(settings.to_env())


def test_migrations_run_before_worker_and_beat_start() -> None:
    services = compose()["services"]
    assert service_command("migrate") == ["panchang", "db", "upgrade"]
    for name in ("worker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )


def test_nothing_is_scheduled_by_cron() -> None:
    for name, service in compose()["services"].items():
        words = " ".join(service.get("command") or []) + " " + service.get("image", "")
        assert "cron" not in words, name
