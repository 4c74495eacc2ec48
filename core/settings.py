"""The one settings object, read from the environment once at the edge (CLI, Celery app).

Everything is checked here, before any command writes anything: a malformed URL or number is
a ConfigError naming the variable, so `REDIS_URL=localhost:6379 panchang users add ...` fails
before the user is saved instead of after.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from core import validate
from core.errors import ConfigError, ValidationError
from core.names import REDBEAT_KEY_PREFIX

STATE_DIR = Path(".panchang")
# Written by `panchang run` when it starts its own Redis, so that other `panchang` commands in a
# second terminal find that server with no configuration.
RUNTIME_REDIS_FILE = STATE_DIR / "redis.url"
LOG_FORMATS = ("text", "json")

# Occurrences of a daily send time are 23 to 25 hours apart (DST), so a run within 11 hours of
# one occurrence is always more than 11 hours from the next: below this bound the occurrence a
# late run belongs to is never ambiguous. At 12 h, a run 12 h late is as near tomorrow's.
MAX_LATE_GRACE_S = 11 * 3600

# The reconciler reads the last two local dates' runs and the daily report re-reads a date's
# ledger rows for a day after the date has ended everywhere: a week keeps both well clear.
MIN_RETENTION_DAYS = 7

SQLITE_EXAMPLE = "sqlite:///.panchang/panchang.db"
POSTGRES_EXAMPLE = "postgresql://user:password@host:5432/panchang"


DEFAULT_WHATSAPP_API_URL = "https://graph.facebook.com/v23.0"


@dataclass(frozen=True)
class WhatsAppSettings:
    """The WhatsApp Cloud API account. The token, app secret and verify token are left out of
    `repr`, so they never reach a log line or a traceback through a printed settings object."""

    api_url: str = DEFAULT_WHATSAPP_API_URL
    token: str = field(default="", repr=False)
    phone_number_id: str = ""
    waba_id: str = ""
    app_secret: str = field(default="", repr=False)
    verify_token: str = field(default="", repr=False)
    template: str = "daily_panchangam"
    template_language: str = "en"
    # The business number's throughput tier: 80 messages/s by default, 1,000 for large senders.
    rate_per_s: float = 80.0

    def require(self, *names: str) -> None:
        """ConfigError naming the first of `names` (field names) that is not set."""
        for name in names:
            if not getattr(self, name):
                raise ConfigError(
                    f"WHATSAPP_{name.upper()} is not set; it is needed to use the WhatsApp "
                    "Cloud API (see the README's configuration table)"
                )

    def to_env(self) -> dict[str, str]:
        return {
            "WHATSAPP_API_URL": self.api_url,
            "WHATSAPP_TOKEN": self.token,
            "WHATSAPP_PHONE_NUMBER_ID": self.phone_number_id,
            "WHATSAPP_WABA_ID": self.waba_id,
            "WHATSAPP_APP_SECRET": self.app_secret,
            "WHATSAPP_VERIFY_TOKEN": self.verify_token,
            "WHATSAPP_TEMPLATE": self.template,
            "WHATSAPP_TEMPLATE_LANGUAGE": self.template_language,
            "WHATSAPP_RATE_PER_S": f"{self.rate_per_s:g}",
        }

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WhatsAppSettings:
        api_url = (env.get("WHATSAPP_API_URL") or DEFAULT_WHATSAPP_API_URL).rstrip("/")
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"invalid WHATSAPP_API_URL {api_url!r}: not an http(s) URL (for example "
                f"{DEFAULT_WHATSAPP_API_URL})"
            )
        return cls(
            api_url=api_url,
            token=env.get("WHATSAPP_TOKEN", ""),
            phone_number_id=env.get("WHATSAPP_PHONE_NUMBER_ID", ""),
            waba_id=env.get("WHATSAPP_WABA_ID", ""),
            app_secret=env.get("WHATSAPP_APP_SECRET", ""),
            verify_token=env.get("WHATSAPP_VERIFY_TOKEN", ""),
            template=env.get("WHATSAPP_TEMPLATE") or "daily_panchangam",
            template_language=env.get("WHATSAPP_TEMPLATE_LANGUAGE") or "en",
            rate_per_s=_positive_float(env, "WHATSAPP_RATE_PER_S", 80.0),
        )


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
    redbeat_key_prefix: str = REDBEAT_KEY_PREFIX
    # Short enough that a standby Beat takes over within about a minute of the active one dying.
    beat_lock_timeout_s: int = 30
    beat_max_interval_s: int = 10
    # Users per batch task: at 80 messages/s a batch of 500 takes about 6 s, at 1,000/s half a
    # second; small enough that many workers share a big slot, large enough that the queue
    # holds hundreds of tasks for a 600,000-user slot, not hundreds of thousands.
    send_batch_size: int = 500
    # How long a run's claim on a user's delivery row holds without renewal, and how long a run
    # may go without reporting progress before the reconciler calls it abandoned. A run renews
    # its claims and reports well inside it; 10 minutes means the users of a run that died are
    # sent again about 10 minutes later, well inside the default 3 h grace.
    claim_lease_s: int = 600
    # How often Beat runs the send reconciler, which re-queues slot occurrences that passed
    # without a complete run. One minute: a failed run is retried within about two.
    reconcile_interval_s: int = 60
    # `outbox` (a JSONL file) or `whatsapp` (the Cloud API).
    transport: str = "outbox"
    whatsapp: WhatsAppSettings = field(default_factory=WhatsAppSettings)
    # Requests one worker process keeps in flight at once. A round trip to Meta takes 100-300
    # ms, so a process sending one at a time manages a few messages a second; 32 in flight
    # keep one process near 100-300 messages/s, above the default tier of 80.
    send_concurrency: int = 32
    # Apprise URLs (mailto://, slack://, tgram://, json://...); none: alerts go to the log.
    alert_urls: tuple[str, ...] = field(default=(), repr=False)
    # Alert when a slot's final failures exceed this share of its users.
    alert_failure_ratio: float = 0.05
    # Ledger rows and run records older than this many days (by local date) are deleted by the
    # nightly cleanup; `daily_stats` keeps the counts.
    retention_days: int = 90
    # `text` (people at a terminal) or `json` (one object per line, with the slot, run, batch
    # and user ids as fields, for a log platform to index).
    log_format: str = "text"
    # Where `redis_url` came from, for error messages: "REDIS_URL" or the runtime file.
    redis_source: str = "REDIS_URL"
    # Why `redis_url` is None although a runtime file exists (its server does not answer).
    redis_problem: str | None = None

    def __post_init__(self) -> None:
        if self.late_grace_s >= MAX_LATE_GRACE_S:
            raise ConfigError(
                f"invalid PANCHANG_LATE_GRACE_S {self.late_grace_s}: must be under "
                f"{MAX_LATE_GRACE_S} (11 h); a run that late could belong to today's or "
                "tomorrow's send"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read settings from `environ` (default `os.environ`); ConfigError on bad values."""
        env = os.environ if environ is None else environ
        try:
            default_send_time = validate.send_time(
                env.get("PANCHANG_DEFAULT_SEND_TIME", "06:30"), "PANCHANG_DEFAULT_SEND_TIME"
            )
        except ValidationError as err:
            raise ConfigError(str(err)) from err
        redis_url, source, problem = _redis_url(env)
        whatsapp = WhatsAppSettings.from_env(env)
        transport = env.get("PANCHANG_TRANSPORT") or ("whatsapp" if whatsapp.token else "outbox")
        if transport not in ("outbox", "whatsapp"):
            raise ConfigError(
                f"invalid PANCHANG_TRANSPORT {transport!r}: must be outbox or whatsapp"
            )
        if transport == "whatsapp":
            # Checked here, at start-up, not at 06:30 when the first slot fires.
            whatsapp.require("token", "phone_number_id")
        ratio = _positive_float(env, "PANCHANG_ALERT_FAILURE_RATIO", 0.05)
        if ratio > 1:
            raise ConfigError(
                f"invalid PANCHANG_ALERT_FAILURE_RATIO {ratio:g}: a share of users, 0 to 1"
            )
        retention_days = _positive_int(env, "PANCHANG_RETENTION_DAYS", 90)
        if retention_days < MIN_RETENTION_DAYS:
            raise ConfigError(
                f"invalid PANCHANG_RETENTION_DAYS {retention_days}: must be at least "
                f"{MIN_RETENTION_DAYS}; the reconciler and the daily report still read a "
                "week's rows"
            )
        log_format = (env.get("PANCHANG_LOG_FORMAT") or "text").strip().lower()
        if log_format not in LOG_FORMATS:
            raise ConfigError(
                f"invalid PANCHANG_LOG_FORMAT {env.get('PANCHANG_LOG_FORMAT')!r}: must be "
                f"{' or '.join(LOG_FORMATS)}"
            )
        db_url = database_url(env.get("DATABASE_URL") or f"sqlite:///{STATE_DIR / 'panchang.db'}")
        # On PostgreSQL, Beat hears of every user change within seconds (a trigger and
        # LISTEN/NOTIFY), so the full sync is only a safety net; on SQLite it is the one path.
        sync_default = 3600 if db_url.startswith("postgresql") else 600
        return cls(
            database_url=db_url,
            redis_url=redis_url,
            redis_source=source,
            redis_problem=problem,
            default_send_time=default_send_time,
            sync_interval_s=_positive_int(env, "PANCHANG_SYNC_INTERVAL_S", sync_default),
            outbox_path=Path(env.get("PANCHANG_OUTBOX") or STATE_DIR / "outbox.jsonl"),
            late_grace_s=_positive_int(env, "PANCHANG_LATE_GRACE_S", 10800),
            claim_lease_s=_positive_int(env, "PANCHANG_CLAIM_LEASE_S", 600),
            reconcile_interval_s=_positive_int(env, "PANCHANG_RECONCILE_INTERVAL_S", 60),
            transport=transport,
            whatsapp=whatsapp,
            send_concurrency=_positive_int(env, "PANCHANG_SEND_CONCURRENCY", 32),
            send_batch_size=_positive_int(env, "PANCHANG_SEND_BATCH_SIZE", 500),
            alert_urls=tuple((env.get("PANCHANG_ALERT_URL") or "").split()),
            alert_failure_ratio=ratio,
            retention_days=retention_days,
            log_format=log_format,
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
            "PANCHANG_RECONCILE_INTERVAL_S": str(self.reconcile_interval_s),
            "PANCHANG_TRANSPORT": self.transport,
            "PANCHANG_SEND_CONCURRENCY": str(self.send_concurrency),
            "PANCHANG_SEND_BATCH_SIZE": str(self.send_batch_size),
            "PANCHANG_ALERT_URL": " ".join(self.alert_urls),
            "PANCHANG_ALERT_FAILURE_RATIO": f"{self.alert_failure_ratio:g}",
            "PANCHANG_RETENTION_DAYS": str(self.retention_days),
            "PANCHANG_LOG_FORMAT": self.log_format,
            **self.whatsapp.to_env(),
        }
        from core.redis_conn import sentinel_target

        target = sentinel_target(self.redis_url or "")
        if target is not None:
            env["REDIS_SENTINELS"] = ",".join(f"{host}:{port}" for host, port in target.hosts)
            env["REDIS_SENTINEL_MASTER"] = target.master
        elif self.redis_url:
            env["REDIS_URL"] = self.redis_url
        return env

    def with_redis(self, redis_url: str, source: str = "REDIS_URL") -> Settings:
        """A copy pointing at another Redis (used by `panchang run` once it has started one)."""
        return replace(
            self, redis_url=check_redis_url(redis_url), redis_source=source, redis_problem=None
        )

    def require_redis_url(self) -> str:
        """The Redis URL, or a ConfigError that tells the user how to provide one."""
        if self.redis_problem:
            raise ConfigError(self.redis_problem)
        if not self.redis_url:
            raise ConfigError(
                "REDIS_URL is not set and no `panchang run` Redis is running; "
                "set REDIS_URL=redis://host:6379/0 or start `panchang run`"
            )
        return self.redis_url


def redact(url: str) -> str:
    """`url` with any password replaced by `***`, for messages and logs."""
    return re.sub(r"(//[^/@:]*:)[^@/]*@", r"\1***@", url)


def database_url(raw: str, setting: str = "DATABASE_URL") -> str:
    """`raw` as a SQLAlchemy URL for a backend and driver we support and have installed.

    `postgres://` (Heroku, many hosting panels) and `postgresql://` map to psycopg2, the driver
    this package installs; SQLAlchemy's own default for them would need a driver we don't ship.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(raw.strip())
    except ArgumentError:
        raise ConfigError(
            f"invalid {setting} {redact(raw)!r}: not a database URL; write it like "
            f"{POSTGRES_EXAMPLE} or {SQLITE_EXAMPLE}"
        ) from None
    driver = url.drivername
    if driver in ("postgres", "postgresql", "postgresql+psycopg2"):
        url = url.set(drivername="postgresql+psycopg2")
    elif driver.startswith(("postgres+", "postgresql+")):
        raise ConfigError(
            f"invalid {setting} {redact(raw)!r}: driver {driver.split('+', 1)[1]!r} is not "
            f"installed; use postgresql:// (psycopg2 is)"
        )
    elif driver not in ("sqlite", "sqlite+pysqlite"):
        raise ConfigError(
            f"invalid {setting} {redact(raw)!r}: panchang-scheduler keeps its data in "
            f"PostgreSQL or SQLite ({POSTGRES_EXAMPLE} or {SQLITE_EXAMPLE})"
        )
    return url.render_as_string(hide_password=False)


def check_redis_url(raw: str, setting: str = "REDIS_URL") -> str:
    """`raw` when it is a URL redis-py can use: redis://, rediss:// (TLS) or unix://."""
    value = raw.strip()
    if value.startswith("redis-sentinel://"):  # ours, built from REDIS_SENTINELS
        return value
    hint = "write it as redis://host:6379/0 (rediss:// for TLS)"
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
        parts = urlsplit("")
    if parts.scheme in ("redis", "rediss") and parts.hostname and port_ok:
        return value
    if parts.scheme == "unix" and parts.path:
        return value
    raise ConfigError(f"invalid {setting} {redact(raw)!r}: not a Redis URL; {hint}")


def _redis_url(env: Mapping[str, str]) -> tuple[str | None, str, str | None]:
    """(url, where it came from, why it is unusable) from REDIS_SENTINELS, REDIS_URL or the
    runtime file."""
    from core.redis_conn import parse_sentinels

    explicit = env.get("REDIS_URL")
    sentinels = env.get("REDIS_SENTINELS")
    if sentinels:
        if explicit and not explicit.startswith("redis-sentinel://"):
            raise ConfigError(
                "REDIS_URL and REDIS_SENTINELS are both set: set one (REDIS_SENTINELS with "
                "REDIS_SENTINEL_MASTER when Sentinel watches your Redis)"
            )
        target = parse_sentinels(sentinels, env.get("REDIS_SENTINEL_MASTER"))
        return target.url, "REDIS_SENTINELS", None
    if explicit:
        return check_redis_url(explicit), "REDIS_URL", None
    source = f"./{RUNTIME_REDIS_FILE}"
    try:
        url = RUNTIME_REDIS_FILE.read_text().strip()
    except OSError:
        return None, "REDIS_URL", None
    if not url:
        return None, "REDIS_URL", None
    # The file outlives a `panchang run` that was killed; a dead server there must not quietly
    # become every command's Redis (a worker would retry it forever).
    if not _answers(url):
        return (
            None,
            source,
            (
                f"REDIS_URL is not set and {source} names {redact(url)}, which does not answer "
                f"(left by a `panchang run` that was killed?); start `panchang run` again, delete "
                f"{source}, or set REDIS_URL"
            ),
        )
    return url, source, None


def _answers(url: str) -> bool:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return bool(client.ping())
    except (redis.RedisError, ValueError):
        return False
    finally:
        client.close()


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"invalid {name} {raw!r}: not a number") from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"invalid {name} {raw!r}: must be a number greater than 0")
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"invalid {name} {raw!r}: not a whole number") from None
    if value <= 0:
        raise ConfigError(f"invalid {name} {raw!r}: must be greater than 0")
    return value
