"""Per-process resources for tasks: settings, database sessions, Redis, the transport.

Created on first use in the process that uses them, never at import: a prefork worker imports
this module before forking, and a database pool, socket or HTTP client must not be shared
across a fork.
"""

from __future__ import annotations

import os
from functools import cache

import redis
from celery import current_app
from sqlalchemy.orm import Session, sessionmaker

from core.redis_conn import open_redis
from core.settings import Settings
from transport.base import Transport


def settings() -> Settings:
    """The settings the current Celery app was built with."""
    found = getattr(current_app, "settings", None)
    return found if isinstance(found, Settings) else Settings.from_env()


def sessions() -> sessionmaker[Session]:
    s = settings()
    return _sessions(os.getpid(), s.database_url, s.send_concurrency)


def transport() -> Transport:
    return _transport(os.getpid(), settings())


def redis_client() -> redis.Redis:
    from tasks.app import FALLBACK_REDIS_URL

    return _redis(os.getpid(), settings().redis_url or FALLBACK_REDIS_URL)


@cache
def _sessions(_pid: int, database_url: str, concurrency: int) -> sessionmaker[Session]:
    from models.db import make_engine, session_factory

    # Each of a batch's sending threads writes its answers in its own short transaction.
    return session_factory(make_engine(database_url, pool_size=concurrency + 2))


@cache
def _transport(_pid: int, current: Settings) -> Transport:
    from transport.configured import configured_transport

    return configured_transport(current, redis_client())


@cache
def _redis(_pid: int, url: str) -> redis.Redis:
    return open_redis(url, decode_responses=True)
