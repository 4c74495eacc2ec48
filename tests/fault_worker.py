"""The product's Celery app with a transport that misbehaves on request, for fault tests.

Run as `celery -A tests.fault_worker worker ...`. The transport is the outbox, plus:
- `PANCHANG_TEST_SEND_DELAY_S`: seconds to wait after writing each message, like a slow
  answer from WhatsApp (a kill during the wait leaves a message sent but not marked);
- `PANCHANG_TEST_FAIL_ONCE_FOR` and `PANCHANG_TEST_FAIL_ONCE_FLAG`: raise ConnectionResetError,
  before writing, for that phone the first time any process tries it (the flag file records
  that it happened).
"""

from __future__ import annotations

import os
import time

from tasks import app, runtime
from transport.base import Message, Receipt
from transport.outbox import OutboxTransport


class FaultyOutbox(OutboxTransport):
    def send(self, message: Message, halt_key: str | None = None) -> Receipt:
        fail_for = os.environ.get("PANCHANG_TEST_FAIL_ONCE_FOR")
        if fail_for and message.to == fail_for:
            try:
                os.close(
                    os.open(os.environ["PANCHANG_TEST_FAIL_ONCE_FLAG"], os.O_CREAT | os.O_EXCL)
                )
            except FileExistsError:
                pass
            else:
                raise ConnectionResetError(f"connection reset while sending to {message.to}")
        receipt = super().send(message)
        time.sleep(float(os.environ.get("PANCHANG_TEST_SEND_DELAY_S", "0")))
        return receipt


runtime.transport = lambda: FaultyOutbox(runtime.settings().outbox_path)

__all__ = ["app"]
