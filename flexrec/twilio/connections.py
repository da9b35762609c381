"""Keep-alive connections to one origin on http.client: the sockets under the Twilio transport.

urllib3's PoolManager cost 0.70-0.74 ms of CPU a request here (its URL parse, pool look-up,
retry and timeout objects, response wrapper) where http.client alone cost 0.33-0.37 ms
(bench/results/issue18.md, "The Twilio calls"), and the service sends ~3.7 requests a call.
This keeps what the pool is for and nothing else:

- one idle list per origin (scheme, host, port), last in first out, at most `maxsize` kept; a
  thread takes a connection out for its request, so no connection is ever shared;
- a connection the server closed while idle is seen before it is reused (its socket reads as
  ready: an end of file, or bytes nobody asked for) and replaced, as urllib3 does; one that
  fails anyway on its first bytes is replaced and the request sent again only for a method
  that is safe to repeat (GET, HEAD): a POST that may have reached Twilio is never sent twice
  (a second recording), its error goes up like any other lost connection;
- timeouts per socket operation (connect, each send and read), as urllib3's;
- TLS verified against one CA bundle, its context built once; a proxy from the environment
  (an http:// proxy: CONNECT for https origins, the absolute URL for http ones).
"""

from __future__ import annotations

import base64
import http.client
import select
import ssl
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from flexrec.twilio.wire import read_response, send_request

# A request with these methods changes nothing: sent again on a fresh connection when a reused
# one turned out closed before any answer came.
SAFE_TO_REPEAT = frozenset({"GET", "HEAD", "OPTIONS"})
# What a connection the server already closed raises on its first send or read.
_CLOSED_UNDER_US = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
STREAM_CHUNK_BYTES = 1 << 18  # a streamed body's slices: one kept buffer, cache-sized

Sink = Callable[[memoryview], None]
"""Takes a streamed body a slice at a time; the slice is only valid during the call."""


class ProxyNotSupported(ValueError):
    """A proxy URL this transport cannot use (only http:// proxies are)."""


@dataclass(frozen=True)
class Origin:
    """Where requests go: scheme, host and port (the port filled in from the scheme)."""

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin:
        """The origin of an absolute http(s) URL."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        return cls(scheme, parts.hostname, parts.port or (443 if scheme == "https" else 80))

    @property
    def netloc(self) -> str:
        """host[:port], the port left out when it is the scheme's own."""
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True)
class Proxy:
    """An http:// proxy and the Proxy-Authorization its URL carries, if any."""

    host: str
    port: int
    authorization: str | None

    @classmethod
    def of(cls, url: str) -> Proxy:
        """Parse `http://[user:password@]host[:port]`."""
        parts = urlsplit(url if "://" in url else "http://" + url)
        if parts.scheme.lower() != "http" or not parts.hostname:
            raise ProxyNotSupported(
                f"proxy {parts.scheme}://{parts.hostname}: only http:// proxies are supported "
                "(the connection to Twilio inside it is TLS all the same)"
            )
        authorization = None
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            authorization = "Basic " + base64.b64encode(pair.encode()).decode()
        return cls(parts.hostname, parts.port or 80, authorization)


def tls_context(ca_bundle: str) -> ssl.SSLContext:
    """A client context that verifies certificates and host names against `ca_bundle`."""
    return ssl.create_default_context(cafile=ca_bundle)


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """Whether an idle connection can no longer carry a request: closed, or its socket readable
    (the server's end of file, or an answer nobody asked for)."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        poller = select.poll()  # not select(): it fails on descriptors past 1023
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


def _exchange(
    conn: http.client.HTTPConnection,
    method: str,
    target: str,
    host: str,
    body: bytes | None,
    headers: dict[str, str],
    sink: Sink | None = None,
) -> tuple[int, dict[str, str], bytes, bool]:
    """One request and its whole answer on a connected connection (flexrec.twilio.wire: the
    bytes http.client would send and read, for less work)."""
    sock = conn.sock
    if sock is None:  # pragma: no cover - the pool hands out connected connections only
        raise http.client.NotConnected()
    send_request(sock, method, target, host, headers, body)
    return read_response(sock, method, sink, STREAM_CHUNK_BYTES)


def _close_each(connections: list[http.client.HTTPConnection]) -> None:
    for conn in connections:
        conn.close()


class OriginPool:
    """Keep-alive connections to one origin, each used by one thread at a time."""

    def __init__(
        self,
        origin: Origin,
        *,
        maxsize: int,
        tls: ssl.SSLContext | None = None,
        proxy: Proxy | None = None,
    ) -> None:
        self.origin = origin
        self.maxsize = maxsize
        self._tls = tls
        self._proxy = proxy
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self.connects = 0  # connections opened, for tests and figures
        # A pool dropped without close() (a short-lived client) closes what it kept.
        weakref.finalize(self, _close_each, self._idle)

    def request(
        self,
        method: str,
        target: str,
        *,
        body: bytes | None,
        headers: dict[str, str],
        timeout: float | None,
        sink: Sink | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one request (`target`: path and query) and read the whole answer:
        (status, headers by lower-case name, body). Network failures raise OSError or
        http.client's errors.

        With `sink`, a 200 answer's body goes to it a slice at a time (the body returned is
        then empty): a recording's media never becomes one buffer the size of the recording.
        """
        if self._proxy is not None and self.origin.scheme == "http":
            # A plain-HTTP proxy takes the absolute URL and its own credentials.
            target = f"http://{self.origin.netloc}{target}"
            if self._proxy.authorization:
                headers = {**headers, "Proxy-Authorization": self._proxy.authorization}
        host = self.origin.netloc
        conn, reused = self._take(timeout)
        try:
            try:
                answer = _exchange(conn, method, target, host, body, headers, sink)
            except _CLOSED_UNDER_US:
                if not reused or method not in SAFE_TO_REPEAT:
                    raise
                conn.close()
                conn = self._connect(timeout)
                answer = _exchange(conn, method, target, host, body, headers, sink)
        except BaseException:
            conn.close()
            raise
        status, answer_headers, data, will_close = answer
        if will_close:
            conn.close()
        else:
            self._give_back(conn)
        return status, answer_headers, data

    def _take(self, timeout: float | None) -> tuple[http.client.HTTPConnection, bool]:
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._connect(timeout), False
            if _dropped(conn):
                conn.close()
                continue
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            conn.timeout = timeout
            return conn, True

    def _give_back(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self.maxsize:
                self._idle.append(conn)
                return
        conn.close()  # more at once than the pool keeps: the surplus goes, as urllib3's does

    def _connect(self, timeout: float | None) -> http.client.HTTPConnection:
        origin, proxy = self.origin, self._proxy
        host, port = (proxy.host, proxy.port) if proxy is not None else (origin.host, origin.port)
        conn: http.client.HTTPConnection
        if origin.scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=self._tls)
            if proxy is not None:
                tunnel = {"Proxy-Authorization": proxy.authorization} if proxy.authorization else {}
                conn.set_tunnel(origin.host, origin.port, headers=tunnel)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.connect()
        self.connects += 1
        return conn

    def close(self) -> None:
        """Close the idle connections (those in use close when their request ends)."""
        with self._lock:
            idle = self._idle[:]
            self._idle.clear()
        _close_each(idle)

    @property
    def idle(self) -> int:
        """Connections kept open, waiting for a request."""
        return len(self._idle)
