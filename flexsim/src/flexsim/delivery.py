"""One webhook request as Twilio sends it, and the transports that carry it.

A `Delivery` is signed exactly as Twilio signs (form or JSON body, `X-Twilio-Signature`,
`I-Twilio-Idempotency-Token`, Twilio's User-Agent); a `Transport` sends it and returns the HTTP
status or raises `DeliveryError`. What to deliver, when, and how often to retry is
`flexsim.webhooks`.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote_plus

from flexsim.http1 import Http1Pool, HttpProtocolError, split_target
from flexsim.signature import json_webhook_url, twilio_signature

if TYPE_CHECKING:  # both load when a transport is made: importing flexsim stays light
    import aiohttp
    import httpx

USER_AGENT = "TwilioProxy/1.1"


# Form names and most values (SIDs, statuses, names, numbers) repeat from webhook to webhook:
# remembering their quoted form spares urllib's per-character quoting on the hot path.
_quote = functools.lru_cache(maxsize=8192)(quote_plus)


def encode_form(form: Mapping[str, str]) -> str:
    """The bytes `urlencode(form)` gives, with the quoting of repeated names and values cached."""
    quote = _quote
    return "&".join([f"{quote(name)}={quote(value)}" for name, value in form.items()])


class Transport(ABC):
    """Sends one request and returns the HTTP status; raises `OSError`-like errors on failure."""

    @abstractmethod
    async def send(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> int:
        """Send and return the status code."""

    async def close(self) -> None:  # noqa: B027 - optional: most transports hold nothing
        """Release connections."""


class AiohttpTransport(Transport):
    """aiohttp's pooled client (about 10x less CPU per request than httpx's async client on
    this workload): the default transport's fallback for https and URLs with credentials."""

    def __init__(self, timeout_s: float, max_connections: int = 64) -> None:
        import aiohttp

        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._limit = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def send(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> int:
        """POST/GET through a shared session (created lazily on the running loop)."""
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=self._limit),
                skip_auto_headers=("User-Agent", "Content-Type"),
            )
        try:
            async with self._session.request(method, url, headers=headers, data=body) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(type(exc).__name__) from exc

    async def close(self) -> None:
        """Close the session."""
        if self._session is not None:
            await self._session.close()
            self._session = None


class PooledTransport(Transport):
    """The default transport: the lean keep-alive client of `flexsim.http1` for plain
    `http://` callback URLs (a fraction of aiohttp's CPU per webhook), aiohttp for the rest
    (`max_connections` bounds aiohttp's pool; the lean client opens one per request in flight)."""

    def __init__(self, timeout_s: float, max_connections: int = 64) -> None:
        self._pool = Http1Pool(timeout_s)
        self._fallback = AiohttpTransport(timeout_s, max_connections)

    async def send(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> int:
        """Send over a pooled connection (https and URLs with credentials go through aiohttp)."""
        if split_target(url) is None:
            return await self._fallback.send(method, url, headers, body)
        try:
            return await self._pool.request(method, url, headers, body)
        except (OSError, TimeoutError, HttpProtocolError) as exc:
            raise DeliveryError(type(exc).__name__) from exc

    async def close(self) -> None:
        """Close the pooled connections and the fallback session."""
        self._pool.close()
        await self._fallback.close()


class HttpxTransport(Transport):
    """Delivery through an httpx client (tests pass one with a `MockTransport`)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def send(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> int:
        """Send through the httpx client."""
        import httpx

        try:
            response = await self.client.request(method, url, headers=headers, content=body)
        except httpx.HTTPError as exc:
            raise DeliveryError(type(exc).__name__) from exc
        return response.status_code

    async def close(self) -> None:
        """Close the client."""
        await self.client.aclose()


class DeliveryError(Exception):
    """The request got no HTTP answer (refused, reset, timed out)."""


@dataclass
class Delivery:
    """One HTTP request to make (and remake on retries)."""

    id: str  # I-Twilio-Idempotency-Token: the same for retries and duplicates
    kind: str
    name: str
    url: str
    method: str = "POST"
    form: dict[str, str] | None = None
    body: bytes | None = None
    shard_key: str = ""
    resource_sid: str = ""
    # The SID the payload is about when `resource_sid` is its parent: a recording status
    # callback's recording (its resource is the call, which orders its callbacks).
    subject_sid: str = ""
    reorder: bool = False
    delay_s: float = 0.0
    duplicate: bool = False

    def request(self, auth_token: str) -> tuple[str, dict[str, str], bytes | None]:
        """Final URL, headers and body, signed exactly as Twilio signs."""
        headers = {"User-Agent": USER_AGENT, "I-Twilio-Idempotency-Token": self.id}
        if self.body is not None:
            url = json_webhook_url(self.url, self.body)
            headers["Content-Type"] = "application/json"
            headers["X-Twilio-Signature"] = twilio_signature(auth_token, url, None)
            return url, headers, self.body
        form = self.form or {}
        if self.method == "GET":
            url = f"{self.url}{'&' if '?' in self.url else '?'}{encode_form(form)}"
            headers["X-Twilio-Signature"] = twilio_signature(auth_token, url, None)
            return url, headers, None
        headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
        headers["X-Twilio-Signature"] = twilio_signature(auth_token, self.url, form)
        return self.url, headers, encode_form(form).encode()
