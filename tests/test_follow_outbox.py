"""`panchang run` echoes each outbox message once, whole, even while it is being written."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from embedded.supervisor import follow_outbox


def test_a_line_written_in_two_parts_is_echoed_once_whole(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.jsonl"
    message = json.dumps(
        {
            "to": "+919800000000",
            "timezone": "Asia/Kolkata",
            "local_date": "2026-01-14",
            "send_time": "06:30",
            "sent_at": "2026-01-14T01:00:00+00:00",
        }
    )
    outbox.write_text(message[:20])
    echoed: list[str] = []
    stop = threading.Event()
    tail = threading.Thread(target=follow_outbox, args=(outbox, 0, echoed.append, stop))
    tail.start()
    try:
        time.sleep(0.7)  # the follower has read the first part and is waiting for the rest
        with outbox.open("a") as handle:
            handle.write(message[20:] + "\n")
        deadline = time.monotonic() + 5
        while not echoed and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.6)  # one more poll: nothing else may appear
    finally:
        stop.set()
        tail.join(timeout=5)
    assert echoed == [
        "sent 2026-01-14 06:30 Asia/Kolkata to +919800000000 at 2026-01-14T01:00:00+00:00"
    ]
