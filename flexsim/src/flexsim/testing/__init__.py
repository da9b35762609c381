"""Point the official Twilio SDK at a simulator: an SDK HTTP client, its async twin, an httpx
transport into an in-process app, and `sdk_client` to build a `twilio.rest.Client` with them.

The SDK has no base-URL setting; its documented extension point is a custom `HttpClient`
(twilio-python `twilio.http.HttpClient`, passed as `Client(..., http_client=...)`). These
clients keep each request's path and query and send it to the simulator instead of
`*.twilio.com` (every Twilio host: api, taskrouter, flex-api, iam, events), over real HTTP to
a running simulator or in process to its ASGI app:

    from flexsim.testing import sdk_client

    client = sdk_client("http://127.0.0.1:8181")        # a running `flexsim`
    client = sdk_client(runner)                         # a SimRunner (its URL and credentials)
    client = sdk_client(create_sim_app(world))          # in process, no socket

Pytest fixtures for all this are in `flexsim.testing.pytest_plugin` (loaded by pytest
automatically once flexsim is installed). Needs the `twilio` package (`flexsim[testing]`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from requests.structures import CaseInsensitiveDict
from twilio.base import values
from twilio.http import AsyncHttpClient, HttpClient
from twilio.http.response import Response
from twilio.rest import Client

from flexsim import defaults

if TYPE_CHECKING:
    from flexsim.runner import SimRunner

ASGIApp = Callable[..., Any]
IN_PROCESS_ORIGIN = "http://testserver"
JSON_TYPES = ("application/json", "application/scim+json")

__all__ = [
    "AppTransport",
    "AsyncSimHttpClient",
    "SimHttpClient",
    "rebase",
    "sdk_client",
]


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
    request: dict[str, Any] = {
        "method": method.upper(),
        "url": rebase(url, origin),
        "params": _fields(params),
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


class AppTransport(httpx.BaseTransport):
    """A synchronous httpx transport that hands every request to an ASGI app in this process
    (through Starlette's TestClient), whatever host the request names; `urls` keeps each
    request's full URL in order."""

    def __init__(self, app: ASGIApp) -> None:
        from starlette.testclient import TestClient

        self._client = TestClient(app, base_url=IN_PROCESS_ORIGIN)
        self.urls: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Forward the request's method, path, query, headers and body to the app."""
        self.urls.append(str(request.url))
        answer = self._client.request(
            request.method,
            request.url.raw_path.decode("ascii"),
            content=request.read(),
            headers=dict(request.headers),
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    def close(self) -> None:
        """Close the in-process client."""
        self._client.close()


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

    @classmethod
    def for_app(cls, app: ASGIApp) -> SimHttpClient:
        """A client that serves every request from `app` in this process."""
        return cls(IN_PROCESS_ORIGIN, transport=AppTransport(app))

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


def sdk_client(
    target: str | SimRunner | ASGIApp | None = None,
    *,
    account_sid: str | None = None,
    auth_token: str | None = None,
    api_key: str | None = None,
    api_secret: str | None = None,
    asynchronous: bool = False,
) -> Client:
    """The official `twilio.rest.Client`, talking to a simulator.

    `target`: a base URL (default `http://127.0.0.1:8181`), a `SimRunner` (its URL and
    credentials), or the simulator's ASGI app (in process). Credentials default to the
    simulated account's (`flexsim.defaults`); `api_key`/`api_secret` authenticate with an API
    key instead of the auth token. `asynchronous`: for the SDK's `*_async` methods.
    """
    from flexsim.runner import SimRunner

    base_url = f"http://127.0.0.1:{defaults.DEFAULT_PORT}"
    app: ASGIApp | None = None
    if isinstance(target, SimRunner):
        base_url = target.base_url
        account_sid = account_sid or target.config.account_sid
        auth_token = auth_token or target.config.auth_token
    elif isinstance(target, str):
        base_url = target
    elif target is not None:
        app = target
    http: HttpClient
    if asynchronous:
        http = AsyncSimHttpClient.for_app(app) if app else AsyncSimHttpClient(base_url)
    else:
        http = SimHttpClient.for_app(app) if app else SimHttpClient(base_url)
    account = account_sid or defaults.ACCOUNT_SID
    if api_key:
        return Client(api_key, api_secret, account, http_client=http)
    return Client(account, auth_token or defaults.AUTH_TOKEN, http_client=http)
