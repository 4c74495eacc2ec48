"""The message template we send, shipped as data (`whatsapp/templates/<name>.json`).

A business may start a conversation on WhatsApp only with a template Meta has approved, so the
template is part of the product: `panchang template push` submits it, and every send names it
and fills its named parameters. Meta's limits, checked here before anything is sent: a body of
at most 1,024 characters once filled, parameters named with lowercase letters and `_`, and no
parameter text with a newline, a tab or more than four spaces in a row (error 132018).

A template is shipped in several languages under one name, as Meta registers it: English
(`en`) and Hindi (`hi`), each with its own body and examples and the same parameters.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from core.errors import ValidationError

TEMPLATES_DIR = Path(__file__).parent / "templates"
# The language every template is shipped in; others (Hindi, `hi`) are shipped beside it.
DEFAULT_LANGUAGE = "en"
BODY_MAX_CHARS = 1024
_PARAM = re.compile(r"\{\{([a-z_]+)\}\}")
_NAME = re.compile(r"^[a-z_]+$")


@dataclass(frozen=True)
class Template:
    name: str
    category: str
    language: str
    body: str
    examples: dict[str, str]

    @cached_property
    def parameter_names(self) -> list[str]:
        """The body's parameters in order of first appearance (read for every send)."""
        return list(dict.fromkeys(_PARAM.findall(self.body)))

    def render(self, params: dict[str, str]) -> str:
        """The body as the recipient reads it."""
        return _PARAM.sub(lambda m: params[m.group(1)], self.body)

    def problems(self, params: dict[str, str]) -> list[str]:
        """Every way `params` break Meta's rules for this template (empty when none)."""
        found = []
        names = self.parameter_names
        missing = [n for n in names if n not in params]
        extra = [n for n in params if n not in names]
        if missing:
            found.append(f"missing parameters {missing}")
        if extra:
            found.append(f"parameters not in the template {extra}")
        for name, text in params.items():
            if "\n" in text or "\t" in text or "     " in text:
                found.append(f"parameter {name} has a newline, a tab or 5+ spaces: {text!r}")
            if not text.strip():
                found.append(f"parameter {name} is empty")
        if not missing and len(self.render(params)) > BODY_MAX_CHARS:
            found.append(f"body is {len(self.render(params))} characters, over {BODY_MAX_CHARS}")
        return found

    def body_component(self, params: dict[str, str]) -> dict[str, Any]:
        """The `components` entry of a send: named text parameters in the body's order.

        ValidationError when the parameters break a rule, so nothing bad reaches Meta.
        """
        problems = self.problems(params)
        if problems:
            raise ValidationError("template parameters", self.name, "; ".join(problems))
        return {
            "type": "body",
            "parameters": [
                {"type": "text", "parameter_name": name, "text": params[name]}
                for name in self.parameter_names
            ],
        }

    def creation_request(
        self, name: str | None = None, language: str | None = None
    ) -> dict[str, Any]:
        """The body of `POST /{waba_id}/message_templates` (named parameters, an example each)."""
        return {
            "name": name or self.name,
            "category": self.category,
            "language": language or self.language,
            "parameter_format": "NAMED",
            "components": [
                {
                    "type": "BODY",
                    "text": self.body,
                    "example": {
                        "body_text_named_params": [
                            {"param_name": n, "example": self.examples[n]}
                            for n in self.parameter_names
                        ]
                    },
                }
            ],
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "category": self.category,
            "language": self.language,
            "parameter_format": "NAMED",
            "parameters": self.parameter_names,
            "body": self.body,
            "examples": self.examples,
        }


def load(name: str = "daily_panchangam", language: str = DEFAULT_LANGUAGE) -> Template:
    """The template shipped as `whatsapp/templates/<name>.json` in `language` ('en', 'hi'),
    checked against Meta's rules with its own examples."""
    templates = load_all(name)
    if language not in templates:
        raise ValidationError(
            "template language", language, f"{name} is shipped in {', '.join(templates)}"
        )
    return templates[language]


def load_all(name: str = "daily_panchangam") -> dict[str, Template]:
    """Every language of the template shipped as `whatsapp/templates/<name>.json`, English
    first: one name, one category and the same parameters in each language (Meta registers one
    template name in several languages), each body checked with its own examples. Read once
    per process; do not change the dict."""
    return _load_all(name)


@cache
def _load_all(name: str) -> dict[str, Template]:
    try:
        data = json.loads((TEMPLATES_DIR / f"{name}.json").read_text())
    except OSError as err:
        raise ValidationError("template", name, f"no such file in {TEMPLATES_DIR}") from err
    languages: dict[str, Any] = data["languages"]
    if DEFAULT_LANGUAGE not in languages:
        raise ValidationError("template", name, f"no {DEFAULT_LANGUAGE!r} language")
    templates: dict[str, Template] = {}
    for language in sorted(languages, key=lambda code: code != DEFAULT_LANGUAGE):
        shipped = languages[language]
        templates[language] = _checked(
            Template(
                name=data["name"],
                category=data["category"],
                language=language,
                body=shipped["body"],
                examples=dict(shipped["examples"]),
            )
        )
    english = set(templates[DEFAULT_LANGUAGE].parameter_names)
    for language, template in templates.items():
        if set(template.parameter_names) != english:
            raise ValidationError(
                "template", f"{name} ({language})",
                f"parameters {template.parameter_names} differ from the English ones",
            )  # fmt: skip
    return templates


def _checked(template: Template) -> Template:
    problems = template.problems(template.examples)
    bad_names = [n for n in template.parameter_names if not _NAME.match(n)]
    if bad_names:
        problems.append(f"parameter names must be lowercase letters and _: {bad_names}")
    if _PARAM.match(template.body) or re.search(r"\}\}\s*$", template.body):
        problems.append("the body must not start or end with a parameter")
    if problems:
        where = f"{template.name} ({template.language})"
        raise ValidationError("template", where, "; ".join(problems))
    return template


def meta_codes(templates: dict[str, Template], english_code: str) -> dict[str, str]:
    """The language code each shipped language is registered under at Meta: English under
    `english_code` (WHATSAPP_TEMPLATE_LANGUAGE: `en`, or e.g. `en_US`), every other language
    under its own code (`hi`)."""
    codes = {
        language: english_code if language == DEFAULT_LANGUAGE else language
        for language in templates
    }
    if len(set(codes.values())) != len(codes):
        raise ValidationError(
            "WHATSAPP_TEMPLATE_LANGUAGE", english_code, "is the code of another shipped language"
        )
    return codes
