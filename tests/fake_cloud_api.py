"""A fake WhatsApp Cloud API: a real HTTP server on loopback, in its own process.

End-to-end tests and the benchmark point `WHATSAPP_API_URL` at it, so worker processes under
test talk HTTP to it exactly as they would to graph.facebook.com. A test starts and steers it
through `FakeCloudApi`:

    with FakeCloudApi().start(latency_ms=50) as api:
        api.script({"919800000001": ["http:503", "accept"]})
        ...  # run the product with WHATSAPP_API_URL=api.api_url, token api.token
        assert api.stats()["accepted"] == ...

Script steps, consumed one per /messages request for that recipient (then `accept`):
    accept                      200 with a fresh wamid
    error:<code>[:<status>]     Meta error body with that code; status 400 unless given, but
                                401 for 190, 429 for 4/80007/130429, 500 for 131000,
                                503 for 2/131016
    http:<status>               that status (>= 400); 5xx carry code 131000
    timeout[:<seconds>]         answer (accepted) only after 30 s, or the given seconds
    close                       close the connection without answering (FIN)
    reset                       abort the connection without answering (RST)
Global modes, for requests whose recipient has no step left:
    {"mode": "storm", "until": <unix time>, "status": 503}      every request fails until then
    {"mode": "ratio", "code": 130429, "share": 0.5, "seed": 1}  that share fails, the rest pass

Steps are consumed only by requests that pass the token check and body validation; those
that fail are answered 401/400 and recorded with source "rejected".

Each /messages request is recorded (GET /_fake/requests) as {time (server time.time() at
arrival), phone_number_id, recipient, source (script|storm|ratio|default|rejected), step (as
applied, e.g. "error:130429:429"), status, error_code, message_id, type, template, language,
params (name -> text), text}. A `timeout` step records status 200: Meta took the message even
though the client gave up waiting; `close`/`reset` record status None.

Control endpoints (no auth): GET /_fake/requests, /_fake/alerts, /_fake/templates,
/_fake/stats; POST /_fake/script, /_fake/reset. Apprise's `json://127.0.0.1:<port>/_fake/alerts`
posts into the alert sink at POST /_fake/alerts.

Run by hand: `python -m tests.fake_cloud_api --port 8099 --token t --latency-ms 50`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TOKEN = "fake-whatsapp-token"
API_VERSION = "v23.0"

# Meta prefixes most Graph error messages with "(#<code>)"; 190 is the exception.
_ERRORS: dict[int, tuple[str, str]] = {
    2: ("(#2) Service temporarily unavailable", "Service temporarily unavailable"),
    4: ("(#4) Application request limit reached", "Application request limit reached"),
    100: ("(#100) Invalid parameter", "Invalid parameter"),
    190: (
        "Invalid OAuth access token - Cannot parse access token",
        "Invalid OAuth access token",
    ),
    368: (
        "(#368) Temporarily blocked for policies violations",
        "Temporarily blocked for policies violations",
    ),
    80007: ("(#80007) Rate limit issues", "The WhatsApp Business Account has reached its limit"),
    130429: ("(#130429) Rate limit hit", "Cloud API message throughput has been reached."),
    131000: ("(#131000) Something went wrong", "Message failed to send due to an unknown error."),
    131008: ("(#131008) Required parameter is missing", "A required parameter is missing"),
    131016: ("(#131016) Service unavailable", "A service is temporarily unavailable."),
    131026: ("(#131026) Message undeliverable", "Unable to deliver message."),
    131047: (
        "(#131047) Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer "
        "last replied to this number.",
    ),
    131048: (
        "(#131048) Spam rate limit hit",
        "Message failed to send because there are restrictions on how many messages can be "
        "sent from this phone number.",
    ),
    131056: (
        "(#131056) (Business Account, Consumer Account) pair rate limit hit",
        "Message failed to send because there were too many messages sent from this phone "
        "number to the same phone number in a short period of time.",
    ),
    132000: (
        "(#132000) Number of parameters does not match the expected number of params",
        "number of localizable_params does not match the expected number of params",
    ),
    132001: (
        "(#132001) Template name does not exist in the translation",
        "template name does not exist in the translation",
    ),
    132018: (
        "(#132018) There was an issue with the parameters in your template.",
        "Param text cannot have new-line/tab characters or more than 4 consecutive spaces",
    ),
    133010: ("(#133010) Account not registered", "Account not registered"),
}
_DEFAULT_STATUS = {2: 503, 4: 429, 190: 401, 80007: 429, 130429: 429, 131000: 500, 131016: 503}
_STATUS_CODE = {401: 190, 403: 10, 429: 130429}

_PARAM_NAME = re.compile(r"[a-z_]+")
_TEMPLATE_NAME = re.compile(r"[a-z0-9_]{1,512}")
_VARIABLE = re.compile(r"\{\{(.*?)\}\}")
_CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")
_BODY_TEXT_LIMIT = 1024
_TEXT_BODY_LIMIT = 4096


class MetaError(Exception):
    """An answer in Meta's error shape; raised anywhere in a handler, answered by `_error`."""

    def __init__(
        self,
        code: int,
        details: str | None = None,
        status: int | None = None,
        subcode: int | None = None,
        message: str | None = None,
        **extra: Any,
    ) -> None:
        known = _ERRORS.get(code)
        self.code = code
        self.status = status or _DEFAULT_STATUS.get(code, 400)
        self.message = message or (known[0] if known else f"(#{code}) Scripted error")
        self.details = details or (known[1] if known else f"Scripted error {code}")
        self.subcode = subcode
        self.extra = extra
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": "OAuthException"}
        error["code"] = self.code
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        error.update(self.extra)
        error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        error["fbtrace_id"] = secrets.token_urlsafe(16)
        return {"error": error}


def _error(exc: MetaError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


@dataclass(frozen=True)
class Step:
    """One parsed script step: what to answer one request with."""

    kind: str  # accept | error | http | timeout | close | reset
    code: int | None = None
    status: int = 200
    seconds: float = 0.0

    @staticmethod
    def parse(text: str) -> Step:
        """Parse `accept`, `error:<code>[:<status>]`, `http:<status>`, `timeout[:<s>]`,
        `close` or `reset`; ValueError names what is wrong."""
        kind, _, rest = text.partition(":")
        if kind in ("accept", "close", "reset") and not rest:
            return Step(kind)
        if kind == "timeout":
            return Step(kind, seconds=float(rest) if rest else 30.0)
        if kind == "error" and rest:
            code_text, _, status_text = rest.partition(":")
            code = int(code_text)
            status = int(status_text) if status_text else _DEFAULT_STATUS.get(code, 400)
            if not 400 <= status <= 599:
                raise ValueError(f"step {text!r}: an error status must be 4xx or 5xx")
            return Step(kind, code=code, status=status)
        if kind == "http" and rest:
            status = int(rest)
            if not 400 <= status <= 599:
                raise ValueError(f"step {text!r}: http:<status> takes a 4xx or 5xx status")
            code = 131000 if status >= 500 else _STATUS_CODE.get(status, 100)
            return Step(kind, code=code, status=status)
        raise ValueError(f"unknown script step {text!r}")

    def name(self) -> str:
        """The step in script syntax, as recorded."""
        if self.kind == "error":
            return f"error:{self.code}:{self.status}"
        if self.kind == "http":
            return f"http:{self.status}"
        if self.kind == "timeout":
            return f"timeout:{self.seconds:g}"
        return self.kind


_ACCEPT = Step("accept")


@dataclass
class GlobalMode:
    """A validated `global` script entry."""

    mode: str  # storm | ratio
    step: Step
    until: float = 0.0
    share: float = 0.0
    rng: random.Random = field(default_factory=random.Random)

    @staticmethod
    def parse(spec: dict[str, Any]) -> GlobalMode:
        mode = spec.get("mode")
        if mode == "storm":
            status = int(spec.get("status", 503))
            code = int(spec.get("code", 131000 if status >= 500 else _STATUS_CODE.get(status, 100)))
            return GlobalMode("storm", Step("http", code, status), until=float(spec["until"]))
        if mode == "ratio":
            code = int(spec["code"])
            status = int(spec.get("status", _DEFAULT_STATUS.get(code, 400)))
            share = float(spec["share"])
            if not 0.0 <= share <= 1.0:
                raise ValueError("ratio share must lie in [0, 1]")
            rng = random.Random(spec.get("seed", 0))
            return GlobalMode("ratio", Step("error", code, status), share=share, rng=rng)
        raise ValueError(f"unknown global mode {mode!r} (storm or ratio)")


@dataclass
class Message:
    """The fields of a valid /messages body that a test asserts on."""

    to: str
    type: str
    template: str | None = None
    language: str | None = None
    params: dict[str, str] | None = None
    text: str | None = None


def parse_message(data: Any) -> Message:
    """Validate a /messages body as the Cloud API does; raise MetaError(100/131008/132018)."""
    if not isinstance(data, dict):
        raise MetaError(100, "The request body must be a JSON object")
    if data.get("messaging_product") != "whatsapp":
        raise MetaError(100, "The parameter messaging_product is required and must be 'whatsapp'")
    to = data.get("to")
    if not isinstance(to, str) or not to.isascii() or not to.isdigit():
        raise MetaError(100, "The parameter to is required: the recipient's digits, no '+'")
    kind = data.get("type", "text")
    if kind == "text":
        text = data.get("text")
        body = text.get("body") if isinstance(text, dict) else None
        if not isinstance(body, str) or not body:
            raise MetaError(100, "The parameter text['body'] is required.")
        if len(body) > _TEXT_BODY_LIMIT:
            raise MetaError(100, f"Param text['body'] must be at most {_TEXT_BODY_LIMIT} chars")
        return Message(to, "text", text=body)
    if kind != "template":
        raise MetaError(100, f"Unsupported message type {kind!r} (fake knows template, text)")
    template = data.get("template")
    if not isinstance(template, dict):
        raise MetaError(100, "The parameter template is required.")
    name = template.get("name")
    if not isinstance(name, str) or not name:
        raise MetaError(100, "The parameter template['name'] is required.")
    language = template.get("language")
    code = language.get("code") if isinstance(language, dict) else None
    if not isinstance(code, str) or not code:
        raise MetaError(100, "The parameter template['language']['code'] is required.")
    components = template.get("components")
    bodies = (
        [c for c in components if isinstance(c, dict) and c.get("type") == "body"]
        if isinstance(components, list)
        else []
    )
    if len(bodies) != 1 or not isinstance(bodies[0].get("parameters"), list):
        raise MetaError(
            100, "template['components'] needs exactly one {'type': 'body', 'parameters': [...]}"
        )
    params: dict[str, str] = {}
    for i, param in enumerate(bodies[0]["parameters"]):
        where = f"template['components']['body']['parameters'][{i}]"
        if not isinstance(param, dict) or param.get("type") != "text":
            raise MetaError(100, f"Param {where}['type'] must be 'text'")
        pname = param.get("parameter_name")
        if not isinstance(pname, str) or not _PARAM_NAME.fullmatch(pname):
            raise MetaError(100, f"Param {where}['parameter_name'] must be lowercase letters and _")
        if pname in params:
            raise MetaError(100, f"Param {where}['parameter_name'] {pname!r} is repeated")
        text = param.get("text")
        if not isinstance(text, str):
            raise MetaError(100, f"Param {where}['text'] must be a string")
        if not text:
            raise MetaError(131008, f"Param {where}['text'] is empty")
        if "\n" in text or "\t" in text or "     " in text:
            raise MetaError(132018)
        params[pname] = text
    return Message(to, "template", template=name, language=code, params=params)


def validate_template(data: Any) -> dict[str, Any]:
    """Validate a message_templates POST body; return the template as stored."""
    if not isinstance(data, dict):
        raise MetaError(100, "The request body must be a JSON object")
    name = data.get("name")
    if not isinstance(name, str) or not _TEMPLATE_NAME.fullmatch(name):
        raise MetaError(100, "name must be 1-512 lowercase letters, digits and _")
    category = data.get("category")
    if category not in _CATEGORIES:
        raise MetaError(100, f"category must be one of {', '.join(_CATEGORIES)}")
    language = data.get("language")
    if not isinstance(language, str) or not language:
        raise MetaError(100, "language is required")
    if data.get("parameter_format") != "NAMED":
        raise MetaError(100, "parameter_format must be NAMED (the fake knows no other)")
    components = data.get("components")
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        raise MetaError(100, "components must be a list of objects")
    bodies = [c for c in components if c.get("type") == "BODY"]
    if len(bodies) != 1:
        raise MetaError(100, "components must hold exactly one BODY component")
    text = bodies[0].get("text")
    if not isinstance(text, str) or not text.strip():
        raise MetaError(100, "the BODY component needs a text")
    if len(text) > _BODY_TEXT_LIMIT:
        raise MetaError(100, f"body text is {len(text)} chars; at most {_BODY_TEXT_LIMIT}")
    variables = _VARIABLE.findall(text)
    bad = sorted({v for v in variables if not _PARAM_NAME.fullmatch(v)})
    if bad:
        raise MetaError(100, f"variable names must be lowercase letters and _: {bad}")
    stripped = text.strip()
    if stripped.startswith("{{") or stripped.endswith("}}"):
        raise MetaError(100, "body text can't start or end with a variable")
    example = bodies[0].get("example")
    named = example.get("body_text_named_params") if isinstance(example, dict) else None
    if variables and not isinstance(named, list):
        raise MetaError(100, "example['body_text_named_params'] is required for variables")
    examples: dict[str, Any] = {}
    for item in named or []:
        pname = item.get("param_name") if isinstance(item, dict) else None
        value = item.get("example") if isinstance(item, dict) else None
        if not isinstance(pname, str) or not isinstance(value, str) or not value:
            raise MetaError(100, "each body_text_named_params item needs param_name and example")
        if pname in examples:
            raise MetaError(100, f"example for {pname!r} given twice")
        examples[pname] = value
    missing = sorted(set(variables) - examples.keys())
    unused = sorted(examples.keys() - set(variables))
    if missing:
        raise MetaError(100, f"no example for variables {missing}")
    if unused:
        raise MetaError(100, f"examples for variables not in the body text: {unused}")
    return {
        "name": name,
        "category": category,
        "language": language,
        "parameter_format": "NAMED",
        "components": components,
    }


class FakeState:
    """Everything the server remembers, in memory: one process, one event loop, no locks."""

    def __init__(self, token: str, latency_ms: float) -> None:
        self.auth = f"Bearer {token}"
        self.latency_s = latency_ms / 1000.0
        self.reset()

    def reset(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.alerts: list[Any] = []
        self.scripts: dict[str, deque[Step]] = {}
        self.global_mode: GlobalMode | None = None
        self.templates: dict[tuple[str, str], dict[str, Any]] = {}
        self.template_reads: dict[str, int] = {}

    def next_step(self, to: str, now: float) -> tuple[Step, str]:
        """The step for this request and where it came from (script/storm/ratio/default)."""
        steps = self.scripts.get(to)
        if steps:
            return steps.popleft(), "script"
        mode = self.global_mode
        if mode is not None:
            if mode.mode == "storm" and now < mode.until:
                return mode.step, "storm"
            if mode.mode == "ratio":
                return (mode.step if mode.rng.random() < mode.share else _ACCEPT), "ratio"
        return _ACCEPT, "default"

    def stats(self) -> dict[str, Any]:
        times = sorted(r["time"] for r in self.records)
        best = 0
        end = 0
        for start, t in enumerate(times):
            while end < len(times) and times[end] < t + 1.0:
                end += 1
            best = max(best, end - start)
        per_second = Counter(int(t) for t in times)
        return {
            "requests": len(times),
            "accepted": sum(1 for r in self.records if r["status"] == 200),
            "max_in_any_1s_window": best,
            "per_second": {str(s): n for s, n in sorted(per_second.items())},
        }


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


_JSON_HEADERS = [(b"content-type", b"application/json")]
_ACCEPTED = (
    b'{"messaging_product":"whatsapp","contacts":[{"input":"%s","wa_id":"%s"}],'
    b'"messages":[{"id":"%s","message_status":"accepted"}]}'
)


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None if the client went away first."""
    chunks = []
    while True:
        event = await receive()
        if event["type"] == "http.disconnect":
            return None
        chunks.append(event.get("body", b""))
        if not event.get("more_body", False):
            return b"".join(chunks)


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [*_JSON_HEADERS, (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _drop_connection(send: Send, reset: bool) -> None:
    """End the request by closing its connection, so the client gets no answer at all."""
    # uvicorn's `send` is a bound method of its request cycle, which holds the transport:
    # the one handle that closes the connection without uvicorn answering 500 in our place.
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise RuntimeError("fake_cloud_api: cannot reach the connection to drop it")
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Linger 0 makes close() send RST instead of FIN.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.close()
    # Let uvicorn's connection_lost run first, so it sees a disconnect rather than an app
    # that returned without answering (which it would log and answer with a 500).
    for _ in range(3):
        await asyncio.sleep(0)


class FakeCloudApiApp:
    """The server's ASGI app. POST /{version}/{phone_number_id}/messages, the benchmark's hot
    path, is answered right here in plain ASGI; everything else goes to a Starlette app.
    Routed through Starlette (middleware, routing, Request, JSONResponse) the same requests
    took 85% of a core at 1,900 req/s instead of 62%, too close to the one core available."""

    def __init__(self, token: str = DEFAULT_TOKEN, latency_ms: float = 0.0) -> None:
        self.state = FakeState(token, latency_ms)
        self.auth = f"Bearer {token}".encode()
        self.starlette = _control_app(self.state)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            parts = scope["path"].split("/")
            if len(parts) == 4 and parts[3] == "messages" and parts[1] and parts[2]:
                await self.messages(parts[2], scope, receive, send)
                return
        await self.starlette(scope, receive, send)

    async def messages(
        self, phone_number_id: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        arrival = time.time()
        state = self.state
        raw = await _read_body(receive)
        if raw is None:
            return
        data = _json(raw)
        to = data.get("to") if isinstance(data, dict) else None
        record: dict[str, Any] = {
            "time": arrival,
            "phone_number_id": phone_number_id,
            "recipient": to if isinstance(to, str) else None,
            "source": "rejected",
            "step": None,
            "status": None,
            "error_code": None,
            "message_id": None,
            "type": None,
            "template": None,
            "language": None,
            "params": None,
            "text": None,
        }
        state.records.append(record)
        authorization = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        try:
            if authorization != self.auth:
                raise MetaError(190)
            message = parse_message(data)
        except MetaError as exc:
            record.update(step=f"error:{exc.code}:{exc.status}", status=exc.status)
            record["error_code"] = exc.code
            if state.latency_s:
                await asyncio.sleep(state.latency_s)
            await _answer(send, exc.status, json.dumps(exc.body()).encode())
            return

        step, source = state.next_step(message.to, arrival)
        record["source"] = source
        record["step"] = step.name()
        record["type"] = message.type
        record["template"] = message.template
        record["language"] = message.language
        record["params"] = message.params
        record["text"] = message.text
        wamid = ""
        if step.kind in ("accept", "timeout"):
            wamid = "wamid." + secrets.token_urlsafe(30)
            record["status"] = 200
            record["message_id"] = wamid
        elif step.kind in ("error", "http"):
            record["status"] = step.status
            record["error_code"] = step.code

        if state.latency_s:
            await asyncio.sleep(state.latency_s)
        if step.kind in ("close", "reset"):
            await _drop_connection(send, reset=step.kind == "reset")
        elif step.kind in ("error", "http"):
            assert step.code is not None
            scripted = MetaError(step.code, status=step.status)
            await _answer(send, scripted.status, json.dumps(scripted.body()).encode())
        else:
            if step.kind == "timeout":
                await asyncio.sleep(step.seconds)
            to_bytes = message.to.encode()
            await _answer(send, 200, _ACCEPTED % (to_bytes, to_bytes, wamid.encode()))


def create_app(token: str = DEFAULT_TOKEN, latency_ms: float = 0.0) -> FakeCloudApiApp:
    """The fake as an ASGI app, for uvicorn."""
    return FakeCloudApiApp(token, latency_ms)


def _control_app(state: FakeState) -> Starlette:
    """Templates, the alert sink and the control endpoints."""
    auth = state.auth

    async def message_templates(request: Request) -> Response:
        try:
            if request.headers.get("authorization") != auth:
                raise MetaError(190)
            if request.method == "GET":
                return _list_templates(request)
            template = validate_template(_json(await request.body()))
        except MetaError as exc:
            return _error(exc)
        key = (template["name"], template["language"])
        if key in state.templates:
            # Meta answers a duplicate with the generic 100 and says what happened in the
            # subcode and the user title.
            return _error(
                MetaError(
                    100,
                    "Content in this language already exists",
                    subcode=2388024,
                    message="Invalid parameter",
                    is_transient=False,
                    error_user_title="Content in This Language Already Exists",
                    error_user_msg="There is already content in this language for this "
                    "template. You can create a new template and try again.",
                )
            )
        template_id = str(1_000_000_000_000_000 + len(state.templates) + 1)
        state.templates[key] = {"id": template_id, "status": "PENDING", **template}
        state.template_reads[template_id] = 0
        return JSONResponse(
            {"id": template_id, "status": "PENDING", "category": template["category"]}
        )

    def _list_templates(request: Request) -> Response:
        name = request.query_params.get("name")
        language = request.query_params.get("language")
        data = []
        for template in state.templates.values():
            if name is not None and template["name"] != name:
                continue
            if language is not None and template["language"] != language:
                continue
            reads = state.template_reads[template["id"]]
            state.template_reads[template["id"]] = reads + 1
            # As if Meta's review finished between the first read and the next.
            template["status"] = "PENDING" if reads == 0 else "APPROVED"
            data.append(dict(template))
        return JSONResponse({"data": data, "paging": {"cursors": {"before": "x", "after": "y"}}})

    async def post_alert(request: Request) -> Response:
        body = await request.body()
        data = _json(body)
        state.alerts.append(data if data is not None else {"raw": body.decode(errors="replace")})
        return JSONResponse({"ok": True})

    async def get_alerts(request: Request) -> Response:
        return JSONResponse(state.alerts)

    async def get_requests(request: Request) -> Response:
        return JSONResponse(state.records)

    async def get_templates(request: Request) -> Response:
        return JSONResponse(list(state.templates.values()))

    async def get_stats(request: Request) -> Response:
        return JSONResponse(state.stats())

    async def post_script(request: Request) -> Response:
        data = _json(await request.body())
        if not isinstance(data, dict):
            return JSONResponse({"error": "body must be a JSON object"}, status_code=400)
        try:
            recipients = data.get("recipients") or {}
            scripts = {
                str(to): deque(Step.parse(s) for s in steps) for to, steps in recipients.items()
            }
            spec = data.get("global")
            global_mode = GlobalMode.parse(spec) if spec else None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return JSONResponse({"error": f"bad script: {exc!r}"}, status_code=400)
        state.scripts = scripts
        state.global_mode = global_mode
        return JSONResponse({"ok": True})

    async def post_reset(request: Request) -> Response:
        state.reset()
        return JSONResponse({"ok": True})

    app = Starlette(
        routes=[
            Route("/_fake/alerts", post_alert, methods=["POST"]),
            Route("/_fake/alerts", get_alerts, methods=["GET"]),
            Route("/_fake/requests", get_requests, methods=["GET"]),
            Route("/_fake/templates", get_templates, methods=["GET"]),
            Route("/_fake/stats", get_stats, methods=["GET"]),
            Route("/_fake/script", post_script, methods=["POST"]),
            Route("/_fake/reset", post_reset, methods=["POST"]),
            Route(
                "/{version}/{waba_id}/message_templates",
                message_templates,
                methods=["GET", "POST"],
            ),
        ]
    )
    return app


class FakeCloudApi:
    """Starts the fake in a child process and steers it over HTTP."""

    def __init__(self) -> None:
        self.port = 0
        self.url = ""
        self.api_url = ""
        self.token = DEFAULT_TOKEN
        self.latency_ms = 0.0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None
        self._client: httpx.Client | None = None

    def start(
        self, port: int | None = None, token: str = DEFAULT_TOKEN, latency_ms: float = 0.0
    ) -> Self:
        """Start the server on 127.0.0.1 (a free port unless `port` is given) and wait until it
        answers; raise RuntimeError with its output if it does not within 20 s."""
        if self._proc is not None:
            raise RuntimeError("FakeCloudApi already started")
        # Binding here and handing the socket down leaves no window in which another test
        # could take a port picked as free, and a busy port fails here, plainly.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port or 0))
        sock.listen(2048)
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_url = f"{self.url}/{API_VERSION}"
        self.token = token
        self.latency_ms = latency_ms
        fd, log_name = tempfile.mkstemp(prefix="fake_cloud_api-", suffix=".log")
        self._log_path = Path(log_name)
        try:
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.fake_cloud_api",
                    "--fd",
                    str(sock.fileno()),
                    "--token",
                    token,
                    "--latency-ms",
                    str(latency_ms),
                    "--parent-pid",
                    str(os.getpid()),
                ],
                cwd=ROOT,
                stdout=fd,
                stderr=subprocess.STDOUT,
                pass_fds=(sock.fileno(),),
            )
        finally:
            os.close(fd)
            sock.close()
        # Proxy variables must not divert loopback control calls.
        self._client = httpx.Client(base_url=self.url, timeout=10.0, trust_env=False)
        self._wait_ready(20.0)
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        assert self._proc is not None and self._client is not None
        deadline = time.monotonic() + timeout_s
        while True:
            if self._proc.poll() is not None:
                output = self.output()
                self.stop()
                raise RuntimeError(f"fake_cloud_api exited before answering:\n{output}")
            try:
                if self._client.get("/_fake/stats", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                output = self.output()
                self.stop()
                raise RuntimeError(f"fake_cloud_api did not answer in {timeout_s} s:\n{output}")
            time.sleep(0.05)

    def output(self) -> str:
        """What the server process printed (warnings and errors only)."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        return self._log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Terminate the server (kill it if it lingers); safe to call twice."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(timeout=5)
            self._proc = None
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None

    def __enter__(self) -> Self:
        return self if self._proc is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        if self._client is None:
            raise RuntimeError("FakeCloudApi is not started")
        response = self._client.request(method, path, json=body)
        if response.status_code != 200:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    def requests(self) -> list[dict[str, Any]]:
        """Every /messages request so far, in arrival order."""
        records: list[dict[str, Any]] = self._call("GET", "/_fake/requests")
        return records

    def stats(self) -> dict[str, Any]:
        """Counts over /messages requests; `per_second` keyed by int unix second."""
        stats: dict[str, Any] = self._call("GET", "/_fake/stats")
        stats["per_second"] = {int(s): n for s, n in stats["per_second"].items()}
        return stats

    def alerts(self) -> list[Any]:
        """The JSON bodies posted to /_fake/alerts (Apprise json:// notifications)."""
        alerts: list[Any] = self._call("GET", "/_fake/alerts")
        return alerts

    def templates(self) -> list[dict[str, Any]]:
        """The templates pushed so far, as stored (reading them does not advance review)."""
        templates: list[dict[str, Any]] = self._call("GET", "/_fake/templates")
        return templates

    def script(
        self,
        recipients: dict[str, list[str]] | None = None,
        global_mode: dict[str, Any] | None = None,
    ) -> None:
        """Replace all scripts; a bad step raises RuntimeError naming it."""
        self._call("POST", "/_fake/script", {"recipients": recipients or {}, "global": global_mode})

    def reset(self) -> None:
        """Forget requests, scripts, templates and alerts."""
        self._call("POST", "/_fake/reset")

    def wait_for_requests(self, count: int, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        """Poll until at least `count` /messages requests arrived; return them."""
        deadline = time.monotonic() + timeout_s
        while True:
            records = self.requests()
            if len(records) >= count:
                return records
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(records)} of {count} requests after {timeout_s} s")
            time.sleep(0.1)


def _exit_with_parent(server: uvicorn.Server, parent_pid: int) -> None:
    """A test run killed hard leaves no orphan server holding its port."""
    while not server.should_exit:
        if os.getppid() != parent_pid:
            server.should_exit = True
            return
        time.sleep(1.0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake WhatsApp Cloud API on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--fd", type=int, help="serve on this inherited listening socket")
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--parent-pid", type=int, help="exit when this parent process goes")
    args = parser.parse_args(argv)

    config = uvicorn.Config(
        create_app(args.token, args.latency_ms),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        backlog=2048,
        # Longer than clients' idle pools keep connections, so the server never closes one
        # just as a client reuses it (Meta keeps them open a long while too).
        timeout_keep_alive=75,
        # Don't let a `timeout` step's sleeping request hold up stop().
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    if args.parent_pid:
        threading.Thread(
            target=_exit_with_parent, args=(server, args.parent_pid), daemon=True
        ).start()
    sockets = [socket.socket(fileno=args.fd)] if args.fd is not None else None
    server.run(sockets=sockets)


if __name__ == "__main__":
    main()
