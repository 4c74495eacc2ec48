"""The message follows the subscriber's language: the composer renders it (cached per place,
date and language), the outbox records it, and the WhatsApp transport picks the template."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any, cast

import pytest

import panchangam
from core.errors import FailureKind, TransportError
from delivery.message import Recipient, compose_message
from transport.base import Message, Receipt
from transport.outbox import OutboxTransport
from whatsapp.template import load, load_all
from whatsapp.transport import WhatsAppTransport

DAY = date(2026, 11, 22)


def recipient(language: str, user_id: int = 1) -> Recipient:
    return Recipient(
        user_id, f"+91984501234{user_id}", "Asia/Kolkata", "06:30", 12.9716, 77.5946,
        "Bengaluru", language,
    )  # fmt: skip


def test_each_language_gets_its_own_text_and_parameters_for_the_same_place() -> None:
    day = panchangam.compute(DAY, 12.9716, 77.5946, "Asia/Kolkata")
    en, hi = compose_message(recipient("en"), DAY), compose_message(recipient("hi", 2), DAY)
    assert (en.language, hi.language) == ("en", "hi")
    assert en.text == panchangam.summary_text(day, "Bengaluru")
    assert hi.text == panchangam.summary_text(day, "Bengaluru", "hi")
    assert hi.text.startswith("पञ्चाङ्ग रविवार, 22 नवम्बर 2026 - Bengaluru")
    assert en.params == load_all()["en"].examples
    assert hi.params == load_all()["hi"].examples
    # The structured fields are the same day whichever language the text is in.
    assert en.fields == hi.fields
    # A recipient built without a language reads English.
    plain = Recipient(3, "+919845012343", "Asia/Kolkata", "06:30", 12.9716, 77.5946, None)
    assert compose_message(plain, DAY).language == "en"


def test_the_outbox_writes_the_text_in_the_users_language_and_records_it(tmp_path: Path) -> None:
    outbox = OutboxTransport(tmp_path / "outbox.jsonl")
    for language in ("en", "hi"):
        outbox.send(compose_message(recipient(language), DAY))
    lines = [json.loads(line) for line in (tmp_path / "outbox.jsonl").read_text().splitlines()]
    assert [line["language"] for line in lines] == ["en", "hi"]
    assert lines[0]["text"].startswith("Panchangam Sun 22 Nov 2026 - Bengaluru")
    assert lines[1]["text"].startswith("पञ्चाङ्ग रविवार, 22 नवम्बर 2026 - Bengaluru")
    # Devanagari is written as itself, not as \u escapes.
    assert "पञ्चाङ्ग" in (tmp_path / "outbox.jsonl").read_text()


class RecordingApi:
    """Just enough of CloudApi for the transport: records each payload."""

    settings: Any = None

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def send(self, to: str, payload: dict[str, Any]) -> str:
        self.sent.append((to, payload))
        return f"wamid.{len(self.sent)}"


class NoLimit:
    def wait(self, halt_key: str | None = None) -> None:
        pass

    def slow_down(self) -> None:
        pass


def test_the_transport_sends_each_language_under_its_code_at_meta() -> None:
    api = RecordingApi()
    limiter: Any = NoLimit()
    transport = WhatsAppTransport(cast(Any, api), limiter, load(), "daily_panchangam", "en_US", 1)
    for n, language in enumerate(("en", "hi"), 1):
        message = compose_message(recipient(language), DAY)
        assert transport.send(message) == Receipt("accepted", f"wamid.{n}")
    codes = [payload["template"]["language"]["code"] for _, payload in api.sent]
    assert codes == ["en_US", "hi"]
    hindi = api.sent[1][1]["template"]["components"][0]["parameters"]
    assert {p["parameter_name"]: p["text"] for p in hindi} == load_all()["hi"].examples
    unknown = Message("+919845012341", "Asia/Kolkata", DAY, "06:30", "x", language="ta")
    with pytest.raises(TransportError) as caught:
        transport.send(unknown)
    assert caught.value.kind is FailureKind.FINAL
    assert len(api.sent) == 2
