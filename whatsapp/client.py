"""A thin client for the WhatsApp Cloud API (Graph API), over one pooled urllib3 client.

The base URL is a setting (`WHATSAPP_API_URL`): tests and staging point it at a local server.
Every failure becomes a `TransportError` whose `kind` comes from Meta's error code
(`whatsapp.errors.classify`) and whose message names the code and Meta's words, never the
token: the token travels only in the Authorization header.

Why urllib3 and not httpx: at the 1,000 messages/s tier a process spends its CPU on HTTP. On
our 2-core benchmark machine one request cost 1.1 ms of CPU through httpx's pooled client and
0.5 ms through urllib3's, 32 threads each (BENCHMARKS.md, "Delivery"); httpx's async client
cost over 10 ms. urllib3 is the pool underneath `requests`, as maintained as httpx.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any
from urllib.parse import urlencode, urlsplit

import urllib3

from core.errors import FailureKind, TransportError
from core.settings import WhatsAppSettings
from whatsapp.errors import classify

# A send answers in 100-300 ms; 10 s means the request is lost, not slow. Connecting gets 5 s.
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 10.0


class CloudApi:
    """One business phone number (sends) and its WhatsApp Business Account (templates)."""

    def __init__(
        self,
        settings: WhatsAppSettings,
        max_connections: int = 32,
        read_timeout_s: float = READ_TIMEOUT_S,
    ) -> None:
        self.settings = settings
        headers = {"Authorization": f"Bearer {settings.token}", "Content-Type": "application/json"}
        self._headers = headers
        # One keep-alive connection per sending thread; `block` makes a thread wait for one
        # rather than open more than the pool holds. No retries here: the run decides them.
        options: dict[str, Any] = {
            "maxsize": max_connections,
            "block": True,
            "timeout": urllib3.Timeout(connect=CONNECT_TIMEOUT_S, read=read_timeout_s),
            "retries": False,
            "headers": headers,
        }
        proxy = _proxy_for(settings.api_url)
        self._http: urllib3.PoolManager = (
            urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)
        )
        # Every request goes to one host: its pool, looked up once rather than per request.
        self._pool = self._http.connection_from_url(settings.api_url)
        self._prefix = urlsplit(settings.api_url).path.rstrip("/")

    def close(self) -> None:
        self._http.clear()

    def send(self, to: str, payload: dict[str, Any]) -> str:
        """Send a message to E.164 `to` (`payload` holds `type` and its object: a template or
        text); returns WhatsApp's message id. TransportError otherwise."""
        body = {"messaging_product": "whatsapp", "to": to.lstrip("+"), **payload}
        answer = self._request("POST", f"{self.settings.phone_number_id}/messages", body)
        try:
            return str(answer["messages"][0]["id"])
        except (KeyError, IndexError, TypeError) as err:
            raise TransportError(
                f"WhatsApp answered 200 without a message id: {str(answer)[:200]}",
                kind=FailureKind.TRANSIENT,
            ) from err

    def create_template(self, request: dict[str, Any]) -> dict[str, Any]:
        """Submit a template for review; Meta answers its id, status and category."""
        return self._request("POST", f"{self._waba()}/message_templates", request)

    def templates(self, name: str) -> list[dict[str, Any]]:
        """The account's templates called `name` (one per language), with their status."""
        answer = self._request("GET", f"{self._waba()}/message_templates", params={"name": name})
        return list(answer.get("data") or [])

    def _waba(self) -> str:
        self.settings.require("waba_id")
        return self.settings.waba_id

    def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        url = f"{self._prefix}/{path}"
        if params:
            url += "?" + urlencode(params)
        try:
            response = self._pool.urlopen(
                method,
                url,
                body=None if body is None else json.dumps(body).encode(),
                headers=self._headers,
                retries=False,
            )
        except urllib3.exceptions.HTTPError as err:
            # Timeouts, refused and reset connections: nothing was answered, so retry. The
            # exception's text may hold the URL; it never holds the token (a header).
            raise TransportError(
                f"no answer from WhatsApp ({type(err).__name__}: {err})",
                kind=FailureKind.TRANSIENT,
            ) from err
        try:
            answer = json.loads(response.data)
        except ValueError:
            answer = None
        if response.status == 200 and isinstance(answer, dict) and "error" not in answer:
            return answer
        code, text = _error_of(answer)
        kind = classify(code, response.status)
        shown = f"WhatsApp error {code}" if code is not None else f"WhatsApp HTTP {response.status}"
        raise TransportError(f"{shown}: {text}", kind=kind, code=code)


def _proxy_for(url: str) -> str | None:
    """The proxy the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY) names for `url`."""
    parts = urlsplit(url)
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return urllib.request.getproxies().get(parts.scheme)


def _error_of(answer: Any) -> tuple[int | None, str]:
    """(code, readable text) of a Graph API error body; (None, ...) when there is none."""
    error = answer.get("error") if isinstance(answer, dict) else None
    if not isinstance(error, dict):
        return None, str(answer)[:200] if answer is not None else "no JSON body"
    raw_code = error.get("code")
    code = int(raw_code) if isinstance(raw_code, int | str) and str(raw_code).isdigit() else None
    text = str(error.get("message") or "")
    data = error.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    if details:
        text = f"{text} ({details})"
    return code, text[:500]
