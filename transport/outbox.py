"""A transport that appends each message as one JSON line to a file (dev, demo and tests)."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from core import clock
from core.errors import TransportError
from transport.base import Message, Receipt


class OutboxTransport:
    """Appends one JSON object per message to `path` (JSON Lines).

    Keys: `to`, `timezone`, `local_date` (ISO date), `send_time`, `language` ('en', 'hi': that
    of `text`), `text`, `sent_at` (ISO 8601 UTC), `fields`. Several worker processes may append
    at once: each line goes out in a single write under an exclusive flock on an O_APPEND
    descriptor, so lines never interleave.
    """

    # One at a time: a local file write takes microseconds, and lines stay in send order.
    concurrency = 1

    def __init__(self, path: Path | str, fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync

    def send(self, message: Message, halt_key: str | None = None) -> Receipt:
        """Append `message`; TransportError when the file cannot be written. (No remote set-up
        can break, so nothing halts an outbox run: `halt_key` is not needed.)"""
        record = {
            "to": message.to,
            "timezone": message.timezone,
            "local_date": message.local_date.isoformat(),
            "send_time": message.send_time,
            "language": message.language,
            "text": message.text,
            "sent_at": clock.now().isoformat(),
            "fields": message.fields,
        }
        try:
            line = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Opened per message so a rotated or deleted outbox is simply recreated, and no
            # descriptor is shared across a worker's fork.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    _write_all(fd, line)
                    if self.fsync:
                        os.fsync(fd)
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
        except (OSError, TypeError, ValueError) as err:
            raise TransportError(
                f"outbox {self.path}: cannot write message to {message.to}: {err}"
            ) from err
        return Receipt("sent")

    def __repr__(self) -> str:
        return f"OutboxTransport({str(self.path)!r})"


def _write_all(fd: int, data: bytes) -> None:
    # os.write may write less than asked (signals, full disks); the flock keeps the rest of the
    # line contiguous.
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
