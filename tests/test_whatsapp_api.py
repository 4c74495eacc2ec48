"""The Cloud API client, the WhatsApp transport and `panchang template`, against the fake
Cloud API on loopback (a real HTTP server in its own process)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from cli import main
from core.errors import FailureKind, TransportError
from core.settings import Settings
from tests.conftest import whatsapp_settings
from transport.base import Message
from transport.configured import configured_transport
from whatsapp.client import CloudApi
from whatsapp.template import load

TO = "+919845012345"


def message(to: str = TO) -> Message:
    template = load()
    return Message(to, "Asia/Kolkata", date(2026, 11, 22), "06:30", "text", {}, template.examples)


@pytest.fixture
def transport(settings: Settings, cloud_api: Any, redis_client: redis.Redis) -> Any:
    return configured_transport(whatsapp_settings(settings, cloud_api), redis_client)


def test_a_send_is_a_template_post_with_named_parameters_and_returns_the_wamid(
    transport: Any, cloud_api: Any
) -> None:
    receipt = transport.send(message())
    assert receipt.status == "accepted"
    assert receipt.message_id.startswith("wamid.")
    [request] = cloud_api.requests()
    assert (request["recipient"], request["type"], request["template"], request["language"]) == (
        "919845012345", "template", "daily_panchangam", "en",
    )  # fmt: skip
    assert request["params"] == load().examples
    assert request["message_id"] == receipt.message_id


@pytest.mark.parametrize(
    ("step", "kind", "code"),
    [
        ("http:503", FailureKind.TRANSIENT, 131000),
        ("error:130429", FailureKind.TRANSIENT, 130429),
        ("close", FailureKind.TRANSIENT, None),
        ("reset", FailureKind.TRANSIENT, None),
        ("error:131026", FailureKind.UNREACHABLE, 131026),
        ("error:190", FailureKind.SETUP, 190),
        ("error:132001:404", FailureKind.SETUP, 132001),
        ("error:131049", FailureKind.HOLD, 131049),
        ("error:130472", FailureKind.FINAL, 130472),
    ],
)
def test_each_answer_becomes_a_failure_of_its_kind_naming_the_code_never_the_token(
    transport: Any, cloud_api: Any, step: str, kind: FailureKind, code: int | None
) -> None:
    cloud_api.script({"919845012345": [step]})
    with pytest.raises(TransportError) as caught:
        transport.send(message())
    assert (caught.value.kind, caught.value.code) == (kind, code)
    if code is not None:
        assert str(caught.value).startswith(f"WhatsApp error {code}: ")
    assert cloud_api.token not in str(caught.value)


def test_a_client_timeout_is_transient(settings: Settings, cloud_api: Any) -> None:
    api = CloudApi(whatsapp_settings(settings, cloud_api).whatsapp, read_timeout_s=0.5)
    cloud_api.script({"919845012345": ["timeout:3"]})
    with pytest.raises(TransportError) as caught:
        api.send(TO, {"type": "text", "text": {"body": "hello"}})
    assert caught.value.kind is FailureKind.TRANSIENT


def test_a_wrong_token_is_a_setup_error(settings: Settings, cloud_api: Any) -> None:
    from dataclasses import replace

    wrong = replace(whatsapp_settings(settings, cloud_api).whatsapp, token="EAAexpired")
    with pytest.raises(TransportError) as caught:
        CloudApi(wrong).send(TO, {"type": "text", "text": {"body": "hello"}})
    assert (caught.value.kind, caught.value.code) == (FailureKind.SETUP, 190)


def cli(settings: Settings, api: Any, *args: str) -> Any:
    env = {
        "DATABASE_URL": settings.database_url, "WHATSAPP_API_URL": api.api_url,
        "WHATSAPP_TOKEN": api.token, "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
        "WHATSAPP_WABA_ID": "102290129340398",
    }  # fmt: skip
    return CliRunner().invoke(main, list(args), env=env)


def test_template_push_submits_it_and_status_reads_its_review_back(
    settings: Settings, cloud_api: Any
) -> None:
    pushed = cli(settings, cloud_api, "template", "push", "--json")
    assert pushed.exit_code == 0, pushed.output
    assert [a["status"] for a in json.loads(pushed.stdout)] == ["PENDING", "PENDING"]
    stored = cloud_api.templates()
    assert sorted(t["language"] for t in stored) == ["en", "hi"]
    assert all(t["name"] == "daily_panchangam" and t["parameter_format"] == "NAMED" for t in stored)
    first = cli(settings, cloud_api, "template", "status")
    assert "daily_panchangam  en        PENDING" in first.stdout
    second = json.loads(cli(settings, cloud_api, "template", "status", "--json").stdout)
    assert [t["status"] for t in second] == ["APPROVED", "APPROVED"]
    again = cli(settings, cloud_api, "template", "push")
    assert again.exit_code == 1
    assert again.stderr == (
        "Error: WhatsApp error 100: Invalid parameter (Content in this language already exists)"
        " (language en; submitted before it: none)\n"
    )


def test_template_show_prints_the_shipped_template_without_any_account(settings: Settings) -> None:
    result = CliRunner().invoke(main, ["template", "show", "--json"], env={"WHATSAPP_TOKEN": ""})
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["parameters"][:3] == ["place", "date", "vaara"]
    assert shown["category"] == "MARKETING"


def test_template_push_without_a_business_account_id_names_the_variable(
    settings: Settings, cloud_api: Any
) -> None:
    result = CliRunner().invoke(
        main, ["template", "push"],
        env={"WHATSAPP_API_URL": cloud_api.api_url, "WHATSAPP_TOKEN": "t",
             "WHATSAPP_PHONE_NUMBER_ID": "1", "WHATSAPP_WABA_ID": ""},
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: WHATSAPP_WABA_ID is not set")


def test_choosing_whatsapp_with_a_setting_missing_is_one_error_at_start_up() -> None:
    result = CliRunner().invoke(
        main, ["users", "list"], env={"PANCHANG_TRANSPORT": "whatsapp", "WHATSAPP_TOKEN": ""}
    )
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "Error: WHATSAPP_TOKEN is not set; it is needed to use the WhatsApp Cloud API (see the "
        "README's configuration table)"
    ]
