"""A lean HTTP/1.1 client for the simulator's webhooks: keep-alive connections over asyncio.

Webhooks are small POSTs to a handful of `http://` callback URLs, thousands a second in a busy
run, and the response body is thrown away. A general client (aiohttp) spends most of the
simulator's CPU on per-request machinery it does not need here; this one writes the request in
one send and parses only the status line, the headers that frame the body, and the body.

Response framing: 1xx are skipped; HEAD, 204 and 304 have no body; otherwise chunked transfer
coding, then Content-Length, else the body runs to the end of the connection. A connection is
reused only when the response says it may be and no stray bytes follow it.
"""

from __future__ import annotations

import asyncio
import functools
import re
from typing import cast
from urllib.parse import urlsplit

_NEEDS_QUOTING = re.compile(r"[\x00-\x20\x7f]")


class HttpProtocolError(Exception):
    """The server's answer is not a well-formed HTTP/1.x response."""


@functools.lru_cache(maxsize=512)
def split_target(url: str) -> tuple[str, int, str, str] | None:
    """(host, port, Host header, request target) of a plain `http://` URL; None for anything
    else (https, credentials in the URL), which a fuller client must send."""
    if not url.isascii() or _NEEDS_QUOTING.search(url):
        return None  # left to a client that percent-encodes what a request line cannot carry
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.username is not None or not parts.hostname:
        return None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = parts.netloc
    if parts.port == 80:
        host_header = host_header.removesuffix(":80")  # as aiohttp: no default port in Host
    return parts.hostname, parts.port or 80, host_header, target


class _Connection(asyncio.Protocol):
    """One TCP connection: buffers what arrives and wakes the request waiting for it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.closed = False
        self.timed_out = False
        self._waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport to write to."""
        # a TCP transport (uvloop's does not subclass asyncio.Transport, hence no isinstance)
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        """Buffer response bytes."""
        self.buffer += data
        self._wake()

    def eof_received(self) -> bool:
        """The server closed its side: no more bytes will come."""
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection is gone."""
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def expire(self) -> None:
        """The request's time is up: fail the wait for its response and drop the connection."""
        self.timed_out = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(TimeoutError())
        self.close()

    async def more(self) -> None:
        """Wait for more bytes; raises ConnectionError once the connection has ended
        (TimeoutError once the request's time is up)."""
        if self.timed_out:
            raise TimeoutError
        if self.closed:
            raise ConnectionResetError("connection closed before the response ended")
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def close(self) -> None:
        """Close the connection."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()


async def _read_until(conn: _Connection, marker: bytes, start: int = 0) -> int:
    """Index of `marker` in the buffer (at or after `start`), reading until it arrives."""
    while True:
        index = conn.buffer.find(marker, start)
        if index >= 0:
            return index
        await conn.more()


async def _read_exactly(conn: _Connection, size: int) -> None:
    """Read until the buffer holds at least `size` bytes."""
    while len(conn.buffer) < size:
        await conn.more()


async def _read_chunked(conn: _Connection) -> None:
    """Consume a chunked body (and its trailers) from the buffer."""
    while True:
        end = await _read_until(conn, b"\r\n")
        size_text = bytes(conn.buffer[:end]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError as exc:
            raise HttpProtocolError(f"bad chunk size {size_text!r}") from exc
        del conn.buffer[: end + 2]
        if size == 0:
            # trailers, each ending in CRLF, then an empty line
            while True:
                end = await _read_until(conn, b"\r\n")
                del conn.buffer[: end + 2]
                if end == 0:
                    return
        await _read_exactly(conn, size + 2)
        del conn.buffer[: size + 2]


async def read_response(conn: _Connection, method: str) -> tuple[int, bool]:
    """Read one response off `conn`: its status and whether the connection may be reused."""
    while True:
        end = await _read_until(conn, b"\r\n\r\n")
        head = bytes(conn.buffer[:end]).decode("latin-1")
        del conn.buffer[: end + 4]
        status_line, _, header_text = head.partition("\r\n")
        version, _, rest = status_line.partition(" ")
        if not version.startswith("HTTP/1.") or len(rest) < 3 or not rest[:3].isdigit():
            raise HttpProtocolError(f"bad status line {status_line[:80]!r}")
        status = int(rest[:3])
        if 100 <= status < 200:
            continue
        length: int | None = None
        chunked = False
        connection = ""
        for line in header_text.split("\r\n"):
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                if not value.strip().isdigit():
                    raise HttpProtocolError(f"bad Content-Length {value.strip()[:40]!r}")
                length = int(value.strip())
            elif name == "transfer-encoding":
                chunked = "chunked" in value.lower()
            elif name == "connection":
                connection = value.strip().lower()
        keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        if method == "HEAD" or status in (204, 304):
            pass
        elif chunked:
            await _read_chunked(conn)
        elif length is not None:
            await _read_exactly(conn, length)
            del conn.buffer[:length]
        else:
            # the body runs to the end of the connection
            while not conn.closed:
                await conn.more()
            conn.buffer.clear()
            keep_alive = False
        return status, keep_alive and not conn.buffer and not conn.closed


class Http1Pool:
    """Keep-alive connections to `http://` hosts: one per request in flight, kept for reuse.

    No connection limit of its own: the webhook dispatcher never has more requests in flight
    than it has senders (its shards), and a semaphore cost a visible share of each request.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._idle: dict[tuple[str, int], list[_Connection]] = {}

    async def request(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> int:
        """Send one request and return the response status (raises OSError, TimeoutError or
        HttpProtocolError when no usable answer came)."""
        split = split_target(url)
        if split is None:
            raise ValueError(f"not a plain http:// URL: {url}")
        host, port, host_header, target = split
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host_header}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        idle = self._idle.setdefault((host, port), [])
        while idle:
            conn = idle.pop()
            if conn.closed:
                continue
            try:
                return await self._exchange(conn, method, payload, idle, deadline)
            except ConnectionError:
                if conn.buffer:
                    raise
                # an idle connection the server had already dropped: use a fresh one
        async with asyncio.timeout_at(deadline):
            _, conn = await loop.create_connection(_Connection, host, port)
        return await self._exchange(conn, method, payload, idle, deadline)

    async def _exchange(
        self,
        conn: _Connection,
        method: str,
        payload: bytes,
        idle: list[_Connection],
        deadline: float,
    ) -> int:
        if conn.transport is None:
            raise ConnectionResetError("connection not open")
        # one timer handle per request (asyncio.timeout costs several times more per use)
        alarm = asyncio.get_running_loop().call_at(deadline, conn.expire)
        reusable = False
        try:
            conn.transport.write(payload)
            status, reusable = await read_response(conn, method)
        finally:
            alarm.cancel()
            if reusable:
                idle.append(conn)
            else:
                conn.close()
        return status

    def close(self) -> None:
        """Close every idle connection."""
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
