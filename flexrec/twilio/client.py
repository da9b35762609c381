"""Builds the official SDK client on a lean, pooled HTTP transport, optionally rebased.

The SDK's own `TwilioHttpClient` goes through requests, which re-reads the environment (proxies,
no_proxy, CA bundle) and rebuilds the request several times on every call: that cost more CPU
than the rest of a Twilio call, and a webhook makes several. The SDK documents a custom
`HttpClient` as its extension point, so this one speaks http.client through keep-alive pools
of its own (flexrec.twilio.connections; urllib3 cost twice as much a request): one pool per
origin, proxies and CA bundle read once, no retries (a retried recording create could make a
second recording), no redirects but the media download's.
"""

from __future__ import annotations

import base64
import functools
import http.client
import json
import logging
import os
import ssl
import threading
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import certifi
from requests.utils import get_environ_proxies
from twilio.base import values
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client

from flexrec.config import TwilioSettings
from flexrec.twilio.connections import Origin, OriginPool, Proxy, Sink, tls_context

# Keep-alive connections kept per host: at least the webhook threads plus the queue workers, or
# the pool closes the surplus and every request pays a new connect.
POOL_SIZE = 64
TWILIO_ORIGIN = "https://api.twilio.com"
MEDIA_TIMEOUT_S = 60.0  # media is larger than a control-plane answer
MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_ROUTES = 64  # URL prefixes kept parsed (the SDK uses a handful of Twilio's hosts)
_log = logging.getLogger("twilio.http_client")


class TooManyRedirects(http.client.HTTPException):
    """A download redirected more than MAX_REDIRECTS times (no answer to give)."""


@functools.lru_cache(maxsize=8)  # one client's credentials, encoded once
def _basic(auth: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()


class PooledHttpClient(HttpClient):
    """The SDK's HTTP client on keep-alive pools; with `base_url`, every `*.twilio.com` URL
    goes there.

    The SDK has no base-URL setting, so the simulator is reached by rebasing: paths are kept,
    so the target must serve Twilio's paths on one origin.
    """

    def __init__(self, base_url: str | None = None, timeout: float | None = None) -> None:
        super().__init__(_log, is_async=False, timeout=timeout)
        self._base = urlsplit(base_url.rstrip("/")) if base_url else None
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        self._ca_bundle = bundle or certifi.where()
        self._tls: ssl.SSLContext | None = None  # built for the first https origin
        self._pools: dict[Origin, OriginPool] = {}
        self._routes: dict[str, tuple[OriginPool, str]] = {}  # by scheme://host[:port]
        self._lock = threading.Lock()
        # The origin every control request goes to, its pool made now: a proxy URL this
        # transport cannot use fails at start, not on the first call.
        self._pool_for(Origin.of(base_url or TWILIO_ORIGIN))

    def _pool_for(self, origin: Origin) -> OriginPool:
        pool = self._pools.get(origin)
        if pool is not None:
            return pool
        with self._lock:
            pool = self._pools.get(origin)
            if pool is None:
                url = f"{origin.scheme}://{origin.netloc}"
                proxy_url = get_environ_proxies(url).get(origin.scheme)
                tls = None
                if origin.scheme == "https":
                    if self._tls is None:
                        self._tls = tls_context(self._ca_bundle)
                    tls = self._tls
                pool = OriginPool(
                    origin,
                    maxsize=POOL_SIZE,
                    tls=tls,
                    proxy=Proxy.of(proxy_url) if proxy_url else None,
                )
                self._pools[origin] = pool
        return pool

    def _route(self, url: str) -> tuple[OriginPool, str]:
        """The pool and the request target (path and query) of an absolute URL, rebased. What
        each origin's URLs start with is parsed once: the SDK sends every request to a handful
        of them, and three URL parses cost more than the rest of the target's making."""
        start = url.find("://")
        cut = url.find("/", start + 3) if start > 0 else -1
        prefix, rest = (url, "/") if cut < 0 else (url[:cut], url[cut:])
        route = self._routes.get(prefix)
        if route is None:
            rebased = urlsplit(self.rebase(prefix + "/"))
            route = (self._pool_for(Origin.of(rebased.geturl())), rebased.path[:-1])
            if len(self._routes) < _MAX_ROUTES:
                self._routes[prefix] = route
        pool, base_path = route
        if "#" in rest:
            rest = rest.split("#", 1)[0]
        return pool, base_path + rest

    def _send(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None,
        headers: dict[str, str],
        timeout: float | None,
    ) -> tuple[int, dict[str, str], bytes]:
        pool, target = self._route(url)
        return pool.request(method, target, body=body, headers=headers, timeout=timeout)

    def _follow(
        self, url: str, headers: dict[str, str], timeout: float | None, sink: Sink | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """GET `url`, following up to MAX_REDIRECTS redirects; the Authorization header is
        dropped once a redirect leaves the origin (Twilio's media store is elsewhere). With
        `sink`, the final 200 answer's body streams to it (`OriginPool.request`)."""
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            status, answer, data = self._pool_for(Origin.of(url)).request(
                "GET",
                (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                body=None,
                headers=headers,
                timeout=timeout,
                sink=sink,
            )
            location = answer.get("location") if status in _REDIRECTS else None
            if not location:
                return status, answer, data
            following = urljoin(url, location)
            if Origin.of(following) != Origin.of(url):
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            url = following
        raise TooManyRedirects(f"more than {MAX_REDIRECTS} redirects")

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
        """Send one request; network failures raise OSError or http.client's errors (never
        retried here, but a GET on a kept connection the server had closed)."""
        if timeout is not None and timeout <= 0:
            raise ValueError(timeout)
        out_headers = dict(headers or {})  # the SDK sends its own User-Agent among them
        if auth is not None:
            out_headers["Authorization"] = _basic(auth)
        target = url
        if params:
            target += ("&" if "?" in target else "?") + form_encode(_clean(params))
        body: bytes | None = None
        if data is not None:
            if out_headers.get("Content-Type") in ("application/json", "application/scim+json"):
                body = json.dumps(data).encode()
            else:
                out_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
                body = form_encode(_clean(data)).encode()
        seconds = timeout if timeout is not None else self.timeout
        verb = method.upper()
        if allow_redirects and verb == "GET":
            status, answer, content = self._follow(self.rebase(target), out_headers, seconds)
        else:
            status, answer, content = self._send(
                verb, target, body=body, headers=out_headers, timeout=seconds
            )
        # Header names come lower-case (flexrec.twilio.wire), as the gateway reads the ETag.
        return Response(status, content.decode("utf-8", errors="replace"), answer)

    def download(
        self, url: str, params: dict[str, str], auth: tuple[str, str]
    ) -> tuple[int, bytes]:
        """GET raw bytes (recording media) following redirects; the Authorization header is
        dropped when a redirect leaves the origin (Twilio's media store)."""
        return self._download(url, params, auth, None)

    def download_into(
        self, url: str, params: dict[str, str], auth: tuple[str, str], sink: Sink
    ) -> tuple[int, bytes]:
        """`download`, with a 200 answer's body handed to `sink` a slice at a time as it
        arrives (the body returned is then empty; another status's body is returned)."""
        return self._download(url, params, auth, sink)

    def _download(
        self, url: str, params: dict[str, str], auth: tuple[str, str], sink: Sink | None
    ) -> tuple[int, bytes]:
        target = self.rebase(url)
        if params:
            target += ("&" if "?" in target else "?") + urlencode(params)
        headers = {"Authorization": _basic(auth)}
        status, _answer, data = self._follow(
            target, headers, max(self.timeout or 0.0, MEDIA_TIMEOUT_S), sink
        )
        return status, data

    def close(self) -> None:
        """Drop the pooled connections."""
        with self._lock:
            pools = list(self._pools.values())
        for pool in pools:
            pool.close()


# quote_plus's output for each byte: letters, digits and "_.-~" as they are, a space as "+",
# any other byte as %XX. One look-up a byte in C, where quote_plus calls Python once a byte (a
# link write's form is a JSON document of ~1 KB).
_QUOTED = tuple(
    chr(b)
    if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "_.-~")
    else "+"
    if b == 32
    else f"%{b:02X}"
    for b in range(256)
)


_SAFE = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"


def _quote(value: object) -> str:
    raw = value if isinstance(value, bytes) else str(value).encode()
    if not raw.rstrip(_SAFE):
        return raw.decode()  # nothing to quote (most names and values but the JSON)
    return "".join(map(_QUOTED.__getitem__, raw))


def form_encode(fields: dict[str, object]) -> str:
    """What `urlencode(fields, doseq=True)` gives (a sequence value repeats its key)."""
    pairs: list[str] = []
    for key, value in fields.items():
        name = _quote(key)
        if isinstance(value, str | bytes) or not hasattr(value, "__len__"):
            pairs.append(f"{name}={_quote(value)}")
        else:
            pairs.extend(f"{name}={_quote(item)}" for item in value)  # type: ignore[attr-defined]
    return "&".join(pairs)


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


def warm_sdk() -> None:
    """Import the SDK's REST modules the recording control path uses (Voice's account
    resources: calls, their recordings, conferences; TaskRouter's tasks).

    The SDK imports them on first use: Voice's account package alone is ~0.1 s of CPU, which
    the first recording create of a process (or the first leg search) paid inside its start.
    Called once the server answers, beside the webhooks, never before (start-up is outage).
    """
    import twilio.rest.api.v2010.account
    import twilio.rest.taskrouter.v1.workspace.task  # noqa: F401
