"""Small builders shared by tests (plain functions, no fixtures)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from models import User

_counter = iter(range(10**6))


def add_users(
    sessions: sessionmaker[Session],
    zone: str,
    send_time: str = "06:30",
    count: int = 1,
    *,
    lat: float = 12.97,
    lon: float = 77.59,
    obsoleted_on: datetime | None = None,
) -> list[int]:
    """Insert `count` users straight into the table (no validation: tests may want bad rows)."""
    with sessions() as session:
        users = [
            User(
                phone=f"+9198{next(_counter):08d}",
                timezone=zone,
                latitude=lat,
                longitude=lon,
                send_time=send_time,
                created_at=datetime(2026, 1, 1, tzinfo=UTC),
                obsoleted_on=obsoleted_on,
            )
            for _ in range(count)
        ]
        session.add_all(users)
        session.commit()
        return [u.id for u in users]


def serve(app: Any) -> Iterator[str]:
    """Serve the ASGI `app` with uvicorn on a free loopback port in a thread; yields its base
    URL and stops it afterwards. For a fixture: `yield from serve(app)`."""
    import threading
    import time

    import uvicorn

    from embedded.redis_server import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def meta_webhook(value: dict[str, Any]) -> dict[str, Any]:
    """A WhatsApp webhook as Meta posts it, with `value` (statuses or messages) for our number."""
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "918045000000",
                         "phone_number_id": "106540352242922"},
            **value,
        }}]}],
    }  # fmt: skip


def post_signed(url: str, payload: Any, secret: str | None, raw: bytes | None = None) -> int:
    """POST `payload` as JSON (or the bytes `raw`) signed as Meta signs it with `secret` (None:
    no signature header); returns the status code."""
    import json

    import httpx

    from whatsapp.webhook import sign

    body = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Hub-Signature-256"] = sign(body, secret)
    return httpx.post(url, content=body, headers=headers, timeout=10).status_code


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    """`GET {url}/metrics`, parsed: (sample name, sorted labels) -> value."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    answer = httpx.get(f"{url}/metrics", timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }
