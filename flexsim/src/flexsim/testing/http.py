"""The official Twilio SDK's HTTP client over httpx, with Twilio's hosts rebased onto a
simulator (`SimHttpClient`, and `AsyncSimHttpClient` for the SDK's async methods).

Dependencies: httpx, and the twilio SDK (with requests under it); no web framework, so a
package whose rules forbid one (a domain package's test fakes) may import it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx
from requests.structures import CaseInsensitiveDict
from twilio.base import values
from twilio.http import AsyncHttpClient, HttpClient
from twilio.http.response import Response

from flexsim import defaults

ASGIApp = Callable[..., Any]
IN_PROCESS_ORIGIN = "http://testserver"
JSON_TYPES = ("application/json", "application/scim+json")


def rebase(url: str, origin: str | None) -> str:
    """`url` sent to `origin` when it names a Twilio host (`*.twilio.com`); else (or without
    an origin) unchanged."""
    parts = urlsplit(url)
    if origin is None or not (parts.hostname or "").endswith("twilio.com"):
        return url
    base = urlsplit(origin.rstrip("/"))
    return urlunsplit((base.scheme, base.netloc, base.path + parts.path, parts.query, ""))


def _fields(fields: Mapping[str, object] | None) -> list[tuple[str, str]]:
    """Form or query pairs as the SDK's requests-based client sends them: a None or unset
    value is left out, a list repeats its name, booleans are `True`/`False` as in requests."""
    out: list[tuple[str, str]] = []
    for name, value in (fields or {}).items():
        if value is None or value is values.unset:
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            out.append((name, str(item)))
    return out


def _build(
    method: str,
    url: str,
    origin: str | None,
    params: Mapping[str, object] | None,
    data: Mapping[str, object] | None,
    headers: Mapping[str, str] | None,
    auth: tuple[str, str] | None,
) -> dict[str, Any]:
    # requests (the SDK's own client) appends params to the URL's query; httpx would replace
    # the query, losing a page link's filters and PageSize (`next_page_uri` carries them all).
    parts = urlsplit(rebase(url, origin))
    query = parse_qsl(parts.query, keep_blank_values=True) + _fields(params)
    request: dict[str, Any] = {
        "method": method.upper(),
        "url": urlunsplit(parts._replace(query="")),
        "params": query,
        "headers": dict(headers or {}),
        "auth": auth,
    }
    if data is not None:
        if request["headers"].get("Content-Type") in JSON_TYPES:
            request["content"] = json.dumps(data).encode()
        else:
            request["data"] = dict(_grouped(_fields(data)))
    return request


def _headers(answer: httpx.Response) -> CaseInsensitiveDict[str]:
    # What the SDK's own client hands on (requests): the server's casing (`ETag`) when iterated,
    # any casing when looked up.
    return CaseInsensitiveDict(
        (name.decode("latin-1"), value.decode("latin-1")) for name, value in answer.headers.raw
    )


def _grouped(pairs: list[tuple[str, str]]) -> dict[str, str | list[str]]:
    grouped: dict[str, str | list[str]] = {}
    for name, value in pairs:
        held = grouped.get(name)
        if held is None:
            grouped[name] = value
        elif isinstance(held, list):
            held.append(value)
        else:
            grouped[name] = [held, value]
    return grouped


class SimHttpClient(HttpClient):  # type: ignore[misc]
    """The SDK's HTTP client over httpx, with Twilio's hosts rebased onto `base_url`; pass a
    `transport` (an `AppTransport`, an `httpx.MockTransport`) to answer without a socket, and
    `base_url=None` to keep Twilio's hosts for a transport that answers them itself.

    `history` keeps each request's (method, path) in order, for tests that count calls.
    """

    def __init__(
        self,
        base_url: str | None = f"http://127.0.0.1:{defaults.DEFAULT_PORT}",
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float | None = 30.0,
    ) -> None:
        super().__init__(logger=None, is_async=False, timeout=timeout)
        self.base_url = base_url.rstrip("/") if base_url else None
        self._http = httpx.Client(transport=transport, timeout=timeout)
        self.history: list[tuple[str, str]] = []

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        """Send one request as the SDK asked; the answer's headers stay case-insensitive."""
        if timeout is not None and timeout <= 0:
            raise ValueError(timeout)
        built = _build(method, url, self.base_url, params, data, headers, auth)
        self.history.append((built["method"], urlsplit(built["url"]).path))
        answer = self._http.request(
            **built,
            timeout=timeout if timeout is not None else self.timeout,
            follow_redirects=allow_redirects,
        )
        return Response(answer.status_code, answer.text, _headers(answer))

    def download(
        self, url: str, params: dict[str, str], auth: tuple[str, str]
    ) -> tuple[int, bytes]:
        """GET raw bytes (recording media), following redirects."""
        answer = self._http.get(
            rebase(url, self.base_url), params=params, auth=auth, follow_redirects=True
        )
        return answer.status_code, answer.content

    def close(self) -> None:
        """Close the underlying httpx client."""
        self._http.close()


class AsyncSimHttpClient(AsyncHttpClient):  # type: ignore[misc]
    """`SimHttpClient` for the SDK's async methods (`client.calls.list_async()`); in process
    it uses httpx's ASGI transport directly."""

    def __init__(
        self,
        base_url: str | None = f"http://127.0.0.1:{defaults.DEFAULT_PORT}",
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float | None = 30.0,
    ) -> None:
        super().__init__(logger=None, is_async=True, timeout=timeout)
        self.base_url = base_url.rstrip("/") if base_url else None
        self._transport = transport
        self.history: list[tuple[str, str]] = []

    @classmethod
    def for_app(cls, app: ASGIApp) -> AsyncSimHttpClient:
        """A client that serves every request from `app` in this process."""
        return cls(IN_PROCESS_ORIGIN, transport=httpx.ASGITransport(app=app))

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the SDK's signature
        allow_redirects: bool = False,
    ) -> Response:
        """Send one request as the SDK asked (a client per request: the SDK may call from any
        event loop)."""
        if timeout is not None and timeout <= 0:
            raise ValueError(timeout)
        built = _build(method, url, self.base_url, params, data, headers, auth)
        self.history.append((built["method"], urlsplit(built["url"]).path))
        async with httpx.AsyncClient(transport=self._transport) as http:
            answer = await http.request(
                **built,
                timeout=timeout if timeout is not None else self.timeout,
                follow_redirects=allow_redirects,
            )
        return Response(answer.status_code, answer.text, _headers(answer))
