"""The one settings object, read from the environment once at the edge (CLI, Celery app)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from core import validate
from core.errors import ConfigError, ValidationError

STATE_DIR = Path(".panchang")
# Written by `panchang run` when it starts its own Redis, so that other `panchang` commands in a
# second terminal find that server with no configuration.
RUNTIME_REDIS_FILE = STATE_DIR / "redis.url"


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with units in the names. Build it with `Settings.from_env()`."""

    database_url: str
    redis_url: str | None
    default_send_time: str = "06:30"
    sync_interval_s: int = 600
    outbox_path: Path = STATE_DIR / "outbox.jsonl"
    late_grace_s: int = 10800
    # Entry names are `<prefix><zone>@<HH:MM>`; RedBeat adds its own key prefix in front.
    entry_prefix: str = "panchang:send:"
    redbeat_key_prefix: str = "redbeat:"
    # Short enough that a standby Beat takes over within about a minute of the active one dying.
    beat_lock_timeout_s: int = 30
    beat_max_interval_s: int = 10
    send_batch_size: int = 500
    # How long a run's claim on a user's delivery row holds. Longer than a batch takes to send
    # (500 messages at WhatsApp's default 80/s is ~6 s), short enough that the users of a run
    # that died are sent the same morning, by the follow-up run the redelivered task schedules.
    claim_lease_s: int = 600

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read settings from `environ` (default `os.environ`); ConfigError on bad values."""
        env = os.environ if environ is None else environ
        redis_url = env.get("REDIS_URL") or _runtime_redis_url()
        try:
            default_send_time = validate.send_time(
                env.get("PANCHANG_DEFAULT_SEND_TIME", "06:30"), "PANCHANG_DEFAULT_SEND_TIME"
            )
        except ValidationError as err:
            raise ConfigError(str(err)) from err
        return cls(
            database_url=env.get("DATABASE_URL") or f"sqlite:///{STATE_DIR / 'panchang.db'}",
            redis_url=redis_url,
            default_send_time=default_send_time,
            sync_interval_s=_positive_int(env, "PANCHANG_SYNC_INTERVAL_S", 600),
            outbox_path=Path(env.get("PANCHANG_OUTBOX") or STATE_DIR / "outbox.jsonl"),
            late_grace_s=_positive_int(env, "PANCHANG_LATE_GRACE_S", 10800),
            claim_lease_s=_positive_int(env, "PANCHANG_CLAIM_LEASE_S", 600),
        )

    def to_env(self) -> dict[str, str]:
        """The environment variables that rebuild these settings in a child process."""
        env = {
            "DATABASE_URL": self.database_url,
            "PANCHANG_DEFAULT_SEND_TIME": self.default_send_time,
            "PANCHANG_SYNC_INTERVAL_S": str(self.sync_interval_s),
            "PANCHANG_OUTBOX": str(self.outbox_path),
            "PANCHANG_LATE_GRACE_S": str(self.late_grace_s),
            "PANCHANG_CLAIM_LEASE_S": str(self.claim_lease_s),
        }
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        return env

    def with_redis(self, redis_url: str) -> Settings:
        """A copy pointing at another Redis (used by `panchang run` once it has started one)."""
        return replace(self, redis_url=redis_url)

    def require_redis_url(self) -> str:
        """The Redis URL, or a ConfigError that tells the user how to provide one."""
        if not self.redis_url:
            raise ConfigError(
                "REDIS_URL is not set and no `panchang run` Redis is running; "
                "set REDIS_URL=redis://host:6379/0 or start `panchang run`"
            )
        return self.redis_url


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"invalid {name} {raw!r}: not a whole number of seconds") from None
    if value <= 0:
        raise ConfigError(f"invalid {name} {raw!r}: must be greater than 0")
    return value


def _runtime_redis_url() -> str | None:
    try:
        url = RUNTIME_REDIS_FILE.read_text().strip()
    except OSError:
        return None
    return url or None
