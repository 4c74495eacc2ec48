"""What every `panchang` command shares: the context object, error handling and output.

Each command parses its input, calls one function and prints the result: a table for people,
`--json` for scripts. Every failure ends as one line on stderr and an exit code, never a
traceback: our own errors say what to fix, and database or Redis failures that reach here are
turned into a line that names the setting and a hint that can work.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

from core.errors import PanchangError, ValidationError
from core.settings import Settings

if TYPE_CHECKING:
    import redis
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class AppContext:
    """What every command gets: settings (read on first use, so `--help` never fails on a bad
    environment), and a database and Redis opened on first use."""

    overrides: dict[str, str] = field(default_factory=dict)
    _settings: Settings | None = field(default=None, repr=False)
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = Settings.from_env({**os.environ, **self.overrides})
        return self._settings

    @settings.setter
    def settings(self, value: Settings) -> None:
        self._settings = value

    @property
    def redis_explicit(self) -> bool:
        """True when REDIS_URL, REDIS_SENTINELS or --redis-url named a server (`panchang run`
        then starts none)."""
        return bool(
            self.overrides.get("REDIS_URL")
            or os.environ.get("REDIS_URL")
            or os.environ.get("REDIS_SENTINELS")
        )

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from models.db import make_engine

            self._engine = make_engine(self.settings.database_url)
        return self._engine

    @property
    def sessions(self) -> sessionmaker[Session]:
        from models.db import session_factory

        return session_factory(self.engine)

    def redis(self) -> redis.Redis:
        """A client for the configured Redis that answers PING (else one clear error)."""
        from scheduler.store import connect

        return connect(self.settings.require_redis_url(), self.settings.redis_source)


def handle_errors(func: F) -> F:
    """Turn every expected failure into one clear line on stderr and its exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PanchangError as err:
            _fail(str(err), err.exit_code)
        except Exception as err:
            explained = _explain(err)
            if explained is None:
                raise
            _fail(str(explained), explained.exit_code)

    return wrapper  # type: ignore[return-value]


def _fail(message: str, code: int) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def _explain(err: Exception) -> PanchangError | None:
    """A database or Redis failure as our own error naming the setting; None for others."""
    import redis
    from sqlalchemy.exc import SQLAlchemyError

    ctx = click.get_current_context(silent=True)
    obj = ctx.find_object(AppContext) if ctx else None
    settings = obj._settings if obj else None
    if isinstance(err, SQLAlchemyError):
        from models.db import explain

        return explain(err, settings.database_url if settings else "")
    if isinstance(err, redis.RedisError):
        from scheduler.store import explain_redis_error

        url = (settings.redis_url or "") if settings else ""
        source = settings.redis_source if settings else "REDIS_URL"
        return explain_redis_error(err, url, source)
    return None


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str, ensure_ascii=False))


def emit_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain aligned table for people; scripts use --json."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            click.echo("  ".join("-" * w for w in widths))


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def parse_instant(text: str, option: str) -> datetime:
    """An aware datetime from ISO 8601 text with an offset; ValidationError naming `option`."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(option, text, "not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise ValidationError(option, text, "needs a UTC offset, e.g. +00:00 or Z")
    return moment


def duration_text(seconds: float, signed: bool = False) -> str:
    """'42 s', '3 min 05 s', '2 h 07 min' for people; negative with '-', and with `signed`
    positive with '+' (a lag: '+42 s' late, '-2 s' early)."""
    sign = "-" if seconds < 0 else ("+" if signed else "")
    whole = round(abs(seconds))
    if whole < 60:
        return f"{sign}{whole} s"
    if whole < 3600:
        return f"{sign}{whole // 60} min {whole % 60:02d} s"
    return f"{sign}{whole // 3600} h {whole % 3600 // 60:02d} min"
