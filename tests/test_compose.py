"""docker-compose.yml describes the layout the tests run for real: Redis, Postgres, a
migration step, `celery -A tasks worker` and `celery -A tasks beat`, and no cron."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from celery import current_app
from celery.schedules import maybe_schedule

from core.names import RECONCILE_TASK, SYNC_TASK
from core.settings import Settings
from tasks.app import create_app

COMPOSE = Path(__file__).resolve().parent.parent / "docker-compose.yml"


def compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    """docker-compose.yml with `${VAR}`, `${VAR:-default}` and `${VAR-default}` resolved from
    `env` (default: none set), as `docker compose` resolves them from the host's environment."""
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return _interpolate(data, env or {})


_VARIABLE = re.compile(r"\$\{(\w+)(?:(:?-)([^}]*))?\}")


def _interpolate(value: Any, env: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {key: _interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolate(item, env) for item in value]
    if isinstance(value, str):

        def resolve(match: re.Match[str]) -> str:
            name, operator, default = match.groups()
            given = env.get(name)
            if operator == ":-" and not given:
                return default
            if operator == "-" and given is None:
                return default
            return given or ""

        return _VARIABLE.sub(resolve, value)
    return value


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
    for name in APP_SERVICES:
        env = services[name]["environment"]
        settings = Settings.from_env(env)
        assert settings.database_url.startswith("postgresql")
        assert settings.redis_url == "redis://redis:6379/0"
        assert set(env) >= set(settings.to_env())
        assert settings.transport == "outbox"  # nothing set on the host: the outbox file


def test_redis_sentinel_settings_pass_through_from_the_hosts_environment() -> None:
    host = {"REDIS_URL": "", "REDIS_SENTINELS": "10.0.0.1:26379,10.0.0.2:26379",
            "REDIS_SENTINEL_MASTER": "panchang"}  # fmt: skip
    env = compose(host)["services"]["beat"]["environment"]
    settings = Settings.from_env(env)
    assert settings.redis_url == "redis-sentinel://10.0.0.1:26379,10.0.0.2:26379/panchang/0"
    assert create_app(settings).conf.broker_transport_options["master_name"] == "panchang"


def test_whatsapp_settings_pass_through_from_the_hosts_environment() -> None:
    host = {"WHATSAPP_TOKEN": "EAAtest", "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
            "WHATSAPP_RATE_PER_S": "1000"}  # fmt: skip
    env = compose(host)["services"]["worker"]["environment"]
    settings = Settings.from_env(env)
    assert (settings.transport, settings.whatsapp.rate_per_s) == ("whatsapp", 1000.0)
    assert settings.whatsapp.phone_number_id == "106540352242922"
    assert settings.whatsapp.api_url == "https://graph.facebook.com/v23.0"


def test_migrations_run_before_worker_and_beat_start() -> None:
    services = compose()["services"]
    assert service_command("migrate") == ["panchang", "db", "upgrade"]
    for name in ("worker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )


# Every service, and every command an app service may run. A cron container by any name (an
# image like mcuadros/ofelia, a `crond` entrypoint, a `sh -c "while sleep 600; do ...; done"`
# loop, a periodic healthcheck doing work) changes one of these and fails below.
SERVICES = {"redis", "postgres", "migrate", "worker", "beat", "beat-standby", "flower", "web"}
APP_SERVICES = ("migrate", "worker", "beat", "beat-standby", "flower", "web")
APP_IMAGE = "panchang-scheduler:latest"
PROGRAMS = {
    "migrate": ["panchang", "db", "upgrade"],
    "worker": ["celery", "-A", "tasks", "worker"],
    "beat": ["celery", "-A", "tasks", "beat"],
    "beat-standby": ["celery", "-A", "tasks", "beat"],
    "flower": ["celery", "-A", "tasks", "flower"],
    "web": ["panchang", "web"],
}
# Options that only tune a process; anything else (`-B` embeds a second Beat in the worker,
# `-S` swaps the scheduler) changes what runs and must be reviewed here.
TUNING_OPTIONS: dict[str, set[str]] = {
    "migrate": set(),
    "worker": {"--loglevel", "--concurrency"},
    "beat": {"--loglevel"},
    "beat-standby": {"--loglevel"},
    "flower": {"--port"},
    "web": {"--host", "--port"},
}
# `panchang health --role ...` only reads heartbeat keys and pings Redis and the database.
PROBES = {
    "redis": ["CMD", "redis-cli", "ping"],
    "postgres": ["CMD-SHELL", "pg_isready -U panchang"],
    "worker": ["CMD", "panchang", "health", "--role", "worker"],
    "beat": ["CMD", "panchang", "health", "--role", "beat"],
    "beat-standby": ["CMD", "panchang", "health", "--role", "beat"],
    "flower": ["CMD", "panchang", "health", "--role", "web"],
    "web": ["CMD", "panchang", "health", "--role", "web"],
}


def is_known_command(name: str, command: list[str]) -> bool:
    """Whether `command` is the program app service `name` is meant to run, tuned at most."""
    program = PROGRAMS[name]
    options = command[len(program) :]
    return command[: len(program)] == program and all(
        "=" in option and option.split("=", 1)[0] in TUNING_OPTIONS[name] for option in options
    )


def test_the_services_are_exactly_redis_postgres_migrate_worker_two_beats_flower_and_web() -> None:
    assert set(compose()["services"]) == SERVICES
    # The webhook needs WhatsApp's secrets: it runs only when that profile is asked for.
    assert compose()["services"]["web"]["profiles"] == ["whatsapp"]


def test_no_service_overrides_its_entrypoint() -> None:
    for name, service in compose()["services"].items():
        assert "entrypoint" not in service, name


def test_app_services_run_the_app_image_with_a_known_command() -> None:
    services = compose()["services"]
    for name in APP_SERVICES:
        assert services[name]["image"] == APP_IMAGE, name
        assert is_known_command(name, service_command(name)), (name, service_command(name))


def test_redis_and_postgres_run_their_stock_servers() -> None:
    services = compose()["services"]
    assert services["redis"]["image"].startswith("redis:")
    assert service_command("redis")[0] == "redis-server"
    assert services["postgres"]["image"].startswith("postgres:")
    assert "command" not in services["postgres"]


def test_healthchecks_only_probe_and_never_do_work() -> None:
    # A healthcheck runs on a timer, so it must never do the app's periodic work.
    for name, service in compose()["services"].items():
        probe = service.get("healthcheck", {}).get("test")
        assert probe == PROBES.get(name), name


def test_the_periodic_work_cron_used_to_do_is_in_beats_schedule() -> None:
    env = compose()["services"]["beat"]["environment"]
    # Creating an app makes it Celery's current app; put back whatever was current before,
    # so later tests' tasks do not pick up this app's (compose network) settings.
    previous = current_app._get_current_object()
    try:
        app = create_app(Settings.from_env(env))
    finally:
        previous.set_current()
    beat_schedule = app.conf.beat_schedule
    for entry, task, interval in (
        ("panchang:sync", SYNC_TASK, env["PANCHANG_SYNC_INTERVAL_S"]),
        ("panchang:reconcile", RECONCILE_TASK, env["PANCHANG_RECONCILE_INTERVAL_S"]),
    ):
        assert entry in beat_schedule, entry
        assert beat_schedule[entry]["task"] == task
        run_every = maybe_schedule(beat_schedule[entry]["schedule"]).run_every
        assert run_every == timedelta(seconds=int(interval)), entry
