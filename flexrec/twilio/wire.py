"""One HTTP/1.1 exchange on a connected socket: the request written in one send, the answer read
with a plain header parser.

http.client's own exchange cost about 0.3-0.4 M instructions a new call (three requests) in
parts a Twilio answer never needs: every header checked and sent through its own `putheader`,
the body in a second send, and the answer's headers parsed by the email package's feed parser
into a `Message` whose every `get` walks its header list (bench/results/issue18.md, "onereq,
session 10"). This writes and reads the same bytes with less: headers become a dict with
lower-case names. It keeps what protects the request and its reader, as http.client does:
a header name, value or path that could split the request is refused before anything is sent;
status and header lines are capped at 64 KiB and headers at 100; a short body raises
`IncompleteRead`; a reused connection the server had closed raises `RemoteDisconnected`. The
connection itself (connect, TLS, proxy tunnel, timeouts) is still http.client's.
"""

from __future__ import annotations

import http.client
import io
import re
import socket
from collections.abc import Callable
from typing import Final

_MAX_LINE: Final = 65_536
_MAX_HEADERS: Final = 100
# What http.client refuses: control characters and spaces in the path, a header name that is
# not a token, a line break in a header value.
_BAD_TARGET = re.compile(r"[\x00-\x20\x7f]").search
_HEADER_NAME = re.compile(r"[^:\s][^:\r\n]*").fullmatch
_BAD_VALUE = re.compile(r"[\r\n\x00]").search
_NO_BODY_STATUSES = frozenset({204, 304})


def send_request(
    sock: socket.socket,
    method: str,
    target: str,
    host: str,
    headers: dict[str, str],
    body: bytes | None,
) -> None:
    """Write the request line, headers and body in one send (`Host`, `Accept-Encoding:
    identity` and `Content-Length` added, as http.client adds them)."""
    if _BAD_TARGET(target) or _BAD_TARGET(method):
        raise http.client.InvalidURL(f"can't send {method!r} {target!r}: control characters")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Accept-Encoding: identity"]
    for name, value in headers.items():
        if not _HEADER_NAME(name) or _BAD_VALUE(value):
            raise ValueError(f"invalid header {name!r}")
        lines.append(f"{name}: {value}")
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body or b'')}")
    lines.append("\r\n")
    head = "\r\n".join(lines).encode("latin-1")
    sock.sendall(head + body if body else head)


def read_response(
    sock: socket.socket,
    method: str,
    sink: Callable[[memoryview], None] | None = None,
    slice_bytes: int = 1 << 18,
) -> tuple[int, dict[str, str], bytes, bool]:
    """Read one answer: (status, headers by lower-case name, body, whether the server closes
    the connection after it). With `sink`, a 200 answer's body is handed to it a slice of at
    most `slice_bytes` at a time through one kept buffer, and the body returned is empty."""
    with sock.makefile("rb") as fp:
        while True:
            version, status = _status_line(fp)
            headers = _headers(fp)
            if status >= 200 or status == 101:
                break  # a 100 Continue (or another 1xx) is followed by the real answer
        connection = headers.get("connection", "").lower()
        if version == "HTTP/1.0":
            will_close = "keep-alive" not in connection and "keep-alive" not in headers
        else:
            will_close = "close" in connection
        if method == "HEAD" or status in _NO_BODY_STATUSES or status < 200:
            return status, headers, b"", will_close
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = None if chunked else _length(headers.get("content-length"))
        if sink is not None and status == 200:
            _stream(fp, sink, slice_bytes, chunked, length)
            return status, headers, b"", will_close or (not chunked and length is None)
        if chunked:
            return status, headers, _chunked(fp), will_close
        if length is None:
            return status, headers, fp.read(), True  # the body ends with the connection
        body = fp.read(length)
        if len(body) < length:
            raise http.client.IncompleteRead(body, length - len(body))
        return status, headers, body, will_close


def _stream(
    fp: io.BufferedReader,
    sink: Callable[[memoryview], None],
    slice_bytes: int,
    chunked: bool,
    length: int | None,
) -> None:
    """Hand the body to `sink` through one kept buffer (a body cut short raises
    `IncompleteRead`, as reading it whole does)."""
    buffer = bytearray(slice_bytes)
    view = memoryview(buffer)

    def give(count: int | None) -> None:
        # `count` bytes (None: to the end of the connection) in slices.
        while count is None or count > 0:
            want = slice_bytes if count is None else min(slice_bytes, count)
            got = fp.readinto(view[:want])
            if not got:
                if count is None:
                    return
                raise http.client.IncompleteRead(b"", count)
            sink(view[:got])
            if count is not None:
                count -= got

    if not chunked:
        give(length)
        return
    while True:
        line = _line(fp, "chunk size")
        try:
            size = int(line.split(b";", 1)[0], 16)
        except ValueError:
            raise http.client.IncompleteRead(b"") from None
        if size == 0:
            while _line(fp, "trailer line") not in (b"\r\n", b"\n", b""):
                pass
            return
        give(size)
        _line(fp, "chunk end")


def _line(fp: io.BufferedReader, what: str) -> bytes:
    line = fp.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise http.client.LineTooLong(what)
    return line


def _status_line(fp: io.BufferedReader) -> tuple[str, int]:
    line = _line(fp, "status line")
    if not line:
        # The server closed the connection before answering (a kept one it had dropped).
        raise http.client.RemoteDisconnected("Remote end closed connection without response")
    parts = line.decode("latin-1").split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise http.client.BadStatusLine(repr(line))
    status = int(parts[1])
    if not 100 <= status <= 999:
        raise http.client.BadStatusLine(repr(line))
    return parts[0], status


def _headers(fp: io.BufferedReader) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _ in range(_MAX_HEADERS + 1):
        line = _line(fp, "header line")
        if line in (b"\r\n", b"\n", b""):
            return headers
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            continue  # not a header (http.client's parser keeps it as a defect, unread)
        key, value = name.strip().lower(), value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    raise http.client.HTTPException(f"got more than {_MAX_HEADERS} headers")


def _length(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        length = int(text.split(",")[0])
    except ValueError:
        return None  # as http.client: an unreadable length reads to the end
    return length if length >= 0 else None


def _chunked(fp: io.BufferedReader) -> bytes:
    parts: list[bytes] = []
    while True:
        line = _line(fp, "chunk size")
        try:
            size = int(line.split(b";", 1)[0], 16)
        except ValueError:
            raise http.client.IncompleteRead(b"".join(parts)) from None
        if size == 0:
            while _line(fp, "trailer line") not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        chunk = fp.read(size)
        if len(chunk) < size:
            raise http.client.IncompleteRead(b"".join((*parts, chunk)), size - len(chunk))
        parts.append(chunk)
        _line(fp, "chunk end")
