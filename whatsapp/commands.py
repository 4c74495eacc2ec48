"""`panchang template`: the message template we ship, and its life at Meta."""

from __future__ import annotations

from typing import Any

import click

from core.console import AppContext, emit_json, emit_table, handle_errors, json_option


@click.group()
def template() -> None:
    """The WhatsApp message template: show it, submit it to Meta, read its review status."""


@template.command("show")
@json_option
@click.pass_obj
@handle_errors
def template_show(obj: AppContext, as_json: bool) -> None:
    """Print the template as shipped: name, category, language, body and an example each."""
    from whatsapp.template import load

    shipped = load()
    data = {
        **shipped.to_dict(),
        "name": obj.settings.whatsapp.template,
        "language": obj.settings.whatsapp.template_language,
    }
    if as_json:
        emit_json(data)
        return
    click.echo(f"{data['name']} ({data['category']}, {data['language']}, named parameters)")
    click.echo("")
    click.echo(shipped.body)
    click.echo("")
    emit_table(
        ("parameter", "example"), [(n, shipped.examples[n]) for n in shipped.parameter_names]
    )
    click.echo("")
    click.echo(f"filled with the examples, the body is {len(shipped.render(shipped.examples))} "
               "characters (at most 1024)")  # fmt: skip


@template.command("push")
@json_option
@click.pass_obj
@handle_errors
def template_push(obj: AppContext, as_json: bool) -> None:
    """Submit the template to Meta for review (POST /{WHATSAPP_WABA_ID}/message_templates)."""
    answer = _api_call(obj, lambda api, t, s: api.create_template(
        t.creation_request(s.template, s.template_language)
    ))  # fmt: skip
    if as_json:
        emit_json(answer)
        return
    click.echo(
        f"submitted {obj.settings.whatsapp.template} ({obj.settings.whatsapp.template_language}): "
        f"id {answer.get('id')}, status {answer.get('status')}, category {answer.get('category')}"
    )


@template.command("status")
@json_option
@click.pass_obj
@handle_errors
def template_status(obj: AppContext, as_json: bool) -> None:
    """Read the template back from Meta: its status (PENDING, APPROVED, REJECTED...) per
    language."""
    found = _api_call(obj, lambda api, t, s: api.templates(s.template))
    if as_json:
        emit_json(found)
        return
    if not found:
        click.echo(f"no template called {obj.settings.whatsapp.template} at Meta; "
                   "`panchang template push` submits it")  # fmt: skip
        return
    emit_table(
        ("name", "language", "status", "category", "id"),
        [(t.get("name"), t.get("language"), t.get("status"), t.get("category"), t.get("id"))
         for t in found],
    )  # fmt: skip


def _api_call(obj: AppContext, call: Any) -> Any:
    from whatsapp.client import CloudApi
    from whatsapp.template import load

    settings = obj.settings.whatsapp
    settings.require("token", "waba_id")
    api = CloudApi(settings, max_connections=1)
    try:
        return call(api, load(), settings)
    finally:
        api.close()
