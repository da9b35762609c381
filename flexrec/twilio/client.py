"""Builds the official SDK client on a lean, pooled HTTP transport, optionally rebased.

The SDK's own `TwilioHttpClient` goes through requests, which re-reads the environment (proxies,
no_proxy, CA bundle) and rebuilds the request several times on every call: that cost more CPU
than the rest of a Twilio call, and a webhook makes several. The SDK documents a custom
`HttpClient` as its extension point, so this one speaks urllib3 (already installed under
requests) directly: one keep-alive pool per origin, proxies and CA bundle read once, no retries
(a retried recording create could make a second recording), no redirects.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import certifi
import urllib3
from requests.utils import get_environ_proxies
from twilio.base import values
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client
from urllib3.util import make_headers

from flexrec.config import TwilioSettings

# Keep-alive connections kept per host: at least the webhook threads plus the queue workers, or
# urllib3 drops the surplus and every request pays a new connect.
POOL_SIZE = 64
TWILIO_ORIGIN = "https://api.twilio.com"
_log = logging.getLogger("twilio.http_client")


def _pool_manager(origin: str) -> urllib3.PoolManager:
    """A pool manager for `origin`, through the environment's proxy for it if any."""
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    options: dict[str, Any] = {
        "maxsize": POOL_SIZE,
        "retries": False,
        "ca_certs": bundle or certifi.where(),
    }
    proxy = get_environ_proxies(origin).get(urlsplit(origin).scheme)
    if proxy:
        return urllib3.ProxyManager(proxy, **options)
    return urllib3.PoolManager(**options)


class PooledHttpClient(HttpClient):
    """The SDK's HTTP client on urllib3; with `base_url`, every `*.twilio.com` URL goes there.

    The SDK has no base-URL setting, so the simulator is reached by rebasing: paths are kept,
    so the target must serve Twilio's paths on one origin.
    """

    def __init__(self, base_url: str | None = None, timeout: float | None = None) -> None:
        super().__init__(_log, is_async=False, timeout=timeout)
        self._base = urlsplit(base_url.rstrip("/")) if base_url else None
        self._pool = _pool_manager(base_url or TWILIO_ORIGIN)

    def rebase(self, url: str) -> str:
        """`url` with its scheme and host replaced by the base URL's (unchanged without one)."""
        parts = urlsplit(url)
        if self._base is None or not parts.netloc.endswith("twilio.com"):
            return url
        base = self._base
        return urlunsplit(
            (base.scheme, base.netloc, base.path + parts.path, parts.query, parts.fragment)
        )

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
        """Send one request; network failures raise urllib3's errors (never retried here)."""
        if timeout is not None and timeout <= 0:
            raise ValueError(timeout)
        out_headers = dict(headers or {})  # the SDK sends its own User-Agent among them
        if auth is not None:
            basic = make_headers(basic_auth=f"{auth[0]}:{auth[1]}")["authorization"]
            out_headers["Authorization"] = basic
        target = self.rebase(url)
        if params:
            target += ("&" if "?" in target else "?") + urlencode(_clean(params), doseq=True)
        body: bytes | None = None
        if data is not None:
            if out_headers.get("Content-Type") in ("application/json", "application/scim+json"):
                body = json.dumps(data).encode()
            else:
                out_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
                body = urlencode(_clean(data), doseq=True).encode()
        seconds = timeout if timeout is not None else self.timeout
        response = self._pool.request(
            method.upper(),
            target,
            body=body,
            headers=out_headers,
            timeout=urllib3.Timeout(total=seconds) if seconds is not None else None,
            redirect=allow_redirects,
            retries=False,
        )
        text = response.data.decode("utf-8", errors="replace")
        return Response(response.status, text, response.headers)

    def download(
        self, url: str, params: dict[str, str], auth: tuple[str, str]
    ) -> tuple[int, bytes]:
        """GET raw bytes (recording media) following redirects; urllib3 drops the
        Authorization header when a redirect leaves the origin (Twilio's media store)."""
        target = self.rebase(url)
        if params:
            target += ("&" if "?" in target else "?") + urlencode(params)
        headers = {
            "Authorization": make_headers(basic_auth=f"{auth[0]}:{auth[1]}")["authorization"]
        }
        seconds = max(self.timeout or 0.0, 60.0)  # media is larger than a control-plane answer
        response = self._pool.request(
            "GET",
            target,
            headers=headers,
            timeout=urllib3.Timeout(total=seconds),
            redirect=True,
            retries=urllib3.Retry(total=None, connect=0, read=0, other=0, status=0, redirect=3),
        )
        return response.status, response.data

    def close(self) -> None:
        """Drop the pooled connections."""
        self._pool.clear()


def _clean(fields: dict[str, object]) -> dict[str, object]:
    # As requests does: a field set to None is left out (the SDK already drops `values.unset`).
    return {k: v for k, v in fields.items() if v is not None and v is not values.unset}


def make_client(settings: TwilioSettings) -> Client:
    """Create the SDK client the service uses, with no retries and a request timeout."""
    http_client = PooledHttpClient(settings.base_url or None, timeout=settings.timeout_s)
    if settings.api_key:
        return Client(
            settings.api_key,
            settings.api_secret.get_secret_value(),
            account_sid=settings.account_sid,
            http_client=http_client,
        )
    return Client(
        settings.account_sid, settings.auth_token.get_secret_value(), http_client=http_client
    )
