"""The one exception hierarchy of panchang-scheduler.

The CLI maps these to one-line messages and exit codes; tasks log them.
"""

from __future__ import annotations

import enum


class PanchangError(Exception):
    """Raised when anything in panchang-scheduler fails in a way a user should hear about."""

    exit_code = 1


class ValidationError(PanchangError, ValueError):
    """Raised when an input value is invalid; names the field and the offending value."""

    exit_code = 2

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"invalid {field} {value!r}: {reason}")


class NotFoundError(PanchangError, LookupError):
    """Raised when a record asked for by id or key does not exist."""

    exit_code = 2


class ConflictError(PanchangError):
    """Raised when a write would break a uniqueness rule (a phone already subscribed)."""

    exit_code = 2


class ConfigError(PanchangError):
    """Raised when settings from the environment are missing or malformed."""

    exit_code = 2


class ServiceUnavailableError(PanchangError):
    """Raised when Redis or the database cannot be reached."""

    exit_code = 3


class SchemaError(PanchangError):
    """Raised when the database cannot be migrated as it stands (rows a new rule refuses)."""

    exit_code = 2


class SyncRefusedError(PanchangError):
    """Raised when a full sync would delete most of the schedule: more often a wrong
    DATABASE_URL, a truncated table or a failed migration than half the subscribers leaving at
    once. Nothing was written; `panchang resync --force` does it anyway."""

    exit_code = 1


class LockLostError(PanchangError):
    """Raised when a sync finds it no longer holds its lock just before writing to Redis."""

    exit_code = 3


class FailureKind(enum.StrEnum):
    """What a failed send means for the run, and so what it does next."""

    TRANSIENT = "transient"  # try again with backoff: network, 5xx, rate limits
    UNREACHABLE = "unreachable"  # this recipient cannot get messages: stop sending to them
    SETUP = "setup"  # our request or account is broken, every message will fail: halt the run
    HOLD = "hold"  # back off for hours (spam or per-user marketing limits): not in this slot
    FINAL = "final"  # this message failed for good; the others may still go
    HALTED = "halted"  # not sent: the run was halted (on any worker) before this request


class TransportError(PanchangError):
    """Raised when a message cannot be handed to the transport (outbox or WhatsApp).

    `kind` says what the run does about it; `code` is the provider's error code, if any.
    """

    def __init__(
        self, message: str, *, kind: FailureKind = FailureKind.FINAL, code: int | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code
