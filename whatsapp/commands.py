"""`panchang template`: the message template we ship, and its life at Meta.

The template is shipped in English and Hindi under one name; Meta registers each language of
a name separately, so `push` submits one request per language and `status` lists each.
"""

from __future__ import annotations

from typing import Any

import click

from core.console import AppContext, emit_json, emit_table, handle_errors, json_option
from core.errors import TransportError


@click.group()
def template() -> None:
    """The WhatsApp message template: show it, submit it to Meta, read its review status."""


@template.command("show", short_help="Print the template as shipped.")
@json_option
@click.pass_obj
@handle_errors
def template_show(obj: AppContext, as_json: bool) -> None:
    """Print the template as shipped: name, category, and per language its code at Meta, body
    and an example for each parameter."""
    from whatsapp.template import DEFAULT_LANGUAGE, load_all, meta_codes

    shipped = load_all()
    codes = meta_codes(shipped, obj.settings.whatsapp.template_language)
    english = shipped[DEFAULT_LANGUAGE]
    data = {
        "name": obj.settings.whatsapp.template,
        "category": english.category,
        "parameter_format": "NAMED",
        "parameters": english.parameter_names,
        "languages": [
            {
                "language": codes[language],
                "shipped_as": language,
                "body": t.body,
                "parameters": t.parameter_names,
                "examples": t.examples,
                "filled_chars": len(t.render(t.examples)),
            }
            for language, t in shipped.items()
        ],
    }
    if as_json:
        emit_json(data)
        return
    for n, (language, t) in enumerate(shipped.items()):
        if n:
            click.echo("")
        click.echo(f"{data['name']} ({t.category}, {codes[language]}, named parameters)")
        click.echo("")
        click.echo(t.body)
        click.echo("")
        emit_table(("parameter", "example"), [(p, t.examples[p]) for p in t.parameter_names])
        click.echo("")
        click.echo(f"filled with the examples, the body is {len(t.render(t.examples))} "
                   "characters (at most 1024)")  # fmt: skip


@template.command("push", short_help="Submit the template to Meta for review.")
@click.option(
    "--language", "languages", multiple=True, type=click.Choice(["en", "hi"]),
    help="Submit only this shipped language (repeatable); all of them by default.",
)  # fmt: skip
@json_option
@click.pass_obj
@handle_errors
def template_push(obj: AppContext, languages: tuple[str, ...], as_json: bool) -> None:
    """Submit the template to Meta for review, one request per language (POST
    /{WHATSAPP_WABA_ID}/message_templates): English as WHATSAPP_TEMPLATE_LANGUAGE, Hindi as
    `hi`."""

    def push(api: Any, shipped: dict[str, Any], codes: dict[str, str]) -> list[dict[str, Any]]:
        answers: list[dict[str, Any]] = []
        for language in languages or tuple(shipped):
            code = codes[language]
            request = shipped[language].creation_request(obj.settings.whatsapp.template, code)
            try:
                answer = api.create_template(request)
            except TransportError as err:
                done = ", ".join(a["language"] for a in answers) or "none"
                raise TransportError(
                    f"{err} (language {code}; submitted before it: {done})",
                    kind=err.kind, code=err.code,
                ) from err  # fmt: skip
            answers.append({"language": code, **answer})
            if not as_json:
                click.echo(
                    f"submitted {obj.settings.whatsapp.template} ({code}): id {answer.get('id')}, "
                    f"status {answer.get('status')}, category {answer.get('category')}"
                )
        return answers

    answers = _api_call(obj, lambda api, shipped, codes: push(api, shipped, codes))
    if as_json:
        emit_json(answers)


@template.command("status", short_help="The template's review status at Meta.")
@json_option
@click.pass_obj
@handle_errors
def template_status(obj: AppContext, as_json: bool) -> None:
    """Read the template back from Meta: its status (PENDING, APPROVED, REJECTED...) per
    language."""
    found, codes = _api_call(
        obj, lambda api, shipped, codes: (api.templates(obj.settings.whatsapp.template), codes)
    )
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
    at_meta = {t.get("language") for t in found}
    missing = [(shipped, code) for shipped, code in codes.items() if code not in at_meta]
    for shipped, code in missing:
        click.echo(f"not at Meta: {code}; `panchang template push --language {shipped}` "
                   "submits it")  # fmt: skip


def _api_call(obj: AppContext, call: Any) -> Any:
    """`call(api, shipped templates by language, their codes at Meta)` with a client for the
    configured account."""
    from whatsapp.client import CloudApi
    from whatsapp.template import load_all, meta_codes

    settings = obj.settings.whatsapp
    settings.require("token", "waba_id")
    shipped = load_all()
    codes = meta_codes(shipped, settings.template_language)
    api = CloudApi(settings, max_connections=1)
    try:
        return call(api, shipped, codes)
    finally:
        api.close()
