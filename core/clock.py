"""The one source of "now". Tests replace it with `frozen()`; nothing else calls datetime.now."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    """Return the current instant as an aware UTC datetime."""
    return _now()


@contextmanager
def frozen(at: datetime | Callable[[], datetime]) -> Iterator[None]:
    """Make `now()` return `at` (or call it) inside the block; `at` must be aware."""
    global _now
    previous = _now
    if callable(at):
        _now = at
    else:
        if at.tzinfo is None:
            raise ValueError("frozen() needs an aware datetime")
        fixed = at.astimezone(UTC)
        _now = lambda: fixed  # noqa: E731
    try:
        yield
    finally:
        _now = previous
