"""The simulator's lean HTTP/1.1 webhook client against a raw local server: body framing,
keep-alive reuse, dropped idle connections, timeouts and the default transport's errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from flexsim.delivery import DeliveryError, PooledTransport
from flexsim.http1 import Http1Pool, HttpProtocolError, split_target

Reply = Callable[[bytes], Awaitable[bytes | None]]


class RawServer:
    """Answers each request with the bytes `reply(request)` gives (None: close at once)."""

    def __init__(self, reply: Reply, close_after: bool = False) -> None:
        self.reply = reply
        self.close_after = close_after
        self.requests: list[bytes] = []
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                answer = await self.reply(request)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def _ok(body: bytes = b"ok", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


def test_split_target_keeps_plain_http_urls_only() -> None:
    assert split_target("http://127.0.0.1:8000/webhooks/x?a=1") == (
        "127.0.0.1",
        8000,
        "127.0.0.1:8000",
        "/webhooks/x?a=1",
    )
    assert split_target("http://example.test") == ("example.test", 80, "example.test", "/")
    assert split_target("http://example.test:80/x") == ("example.test", 80, "example.test", "/x")
    assert split_target("http://example.test/a b") is None
    assert split_target("https://example.test/x") is None
    assert split_target("http://user:pw@example.test/x") is None


def test_post_sends_host_headers_and_body_and_reuses_the_connection() -> None:
    async def reply(request: bytes) -> bytes:
        return _ok()

    async def main() -> tuple[list[int], RawServer]:
        server = RawServer(reply)
        async with server as base:
            pool = Http1Pool(timeout_s=5)
            statuses = [
                await pool.request("POST", f"{base}/hook?x=1", {"X-Twilio-Signature": "s"}, b"a=b")
                for _ in range(3)
            ]
            pool.close()
        return statuses, server

    statuses, server = asyncio.run(main())
    assert statuses == [200, 200, 200]
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /hook?x=1 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"\r\nX-Twilio-Signature: s\r\n" in first
    assert b"\r\nContent-Length: 3\r\n" in first
    assert first.endswith(b"\r\n\r\na=b")


@pytest.mark.parametrize(
    ("answer", "status", "reused"),
    [
        (b"HTTP/1.1 100 Continue\r\n\r\n" + _ok(), 200, True),
        (b"HTTP/1.1 204 No Content\r\n\r\n", 204, True),
        (
            b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: 1\r\n\r\n",
            202,
            True,
        ),
        (_ok(extra=b"Connection: close\r\n"), 200, False),
        (b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n", 404, False),
    ],
)
def test_response_framing_decides_reuse(answer: bytes, status: int, reused: bool) -> None:
    async def reply(request: bytes) -> bytes:
        return answer

    async def main() -> tuple[list[int], int]:
        server = RawServer(reply)
        async with server as base:
            pool = Http1Pool(timeout_s=5)
            statuses = [await pool.request("POST", f"{base}/h", {}, b"") for _ in range(2)]
            pool.close()
        return statuses, server.connections

    statuses, connections = asyncio.run(main())
    assert statuses == [status, status]
    assert connections == (1 if reused else 2)


def test_body_to_end_of_connection_and_server_dropping_idle_connections() -> None:
    async def reply(request: bytes) -> bytes:
        return b"HTTP/1.1 500 Oops\r\n\r\nno length: read to the end"

    async def main() -> list[int]:
        async with RawServer(reply, close_after=True) as base:
            pool = Http1Pool(timeout_s=5)
            statuses = [await pool.request("GET", f"{base}/h", {}, None) for _ in range(2)]
            pool.close()
        return statuses

    assert asyncio.run(main()) == [500, 500]


def test_stale_keep_alive_connection_is_replaced() -> None:
    async def reply(request: bytes) -> bytes:
        return _ok()

    async def main() -> tuple[list[int], int]:
        server = RawServer(reply, close_after=True)  # says keep-alive, closes anyway
        async with server as base:
            pool = Http1Pool(timeout_s=5)
            first = await pool.request("POST", f"{base}/h", {}, b"1")
            await asyncio.sleep(0.05)
            second = await pool.request("POST", f"{base}/h", {}, b"2")
            pool.close()
        return [first, second], server.connections

    statuses, connections = asyncio.run(main())
    assert statuses == [200, 200]
    assert connections == 2


def test_failures_become_delivery_errors() -> None:
    async def silent(request: bytes) -> bytes:
        await asyncio.sleep(10)  # never answers within the client's timeout
        return _ok()

    async def garbage(request: bytes) -> bytes:
        return b"SMTP ready\r\n\r\n"

    async def main() -> list[str]:
        errors = []
        for reply in (silent, garbage):
            async with RawServer(reply) as base:
                transport = PooledTransport(timeout_s=0.2)
                with pytest.raises(DeliveryError) as caught:
                    await transport.send("POST", f"{base}/h", {}, b"")
                errors.append(str(caught.value))
                await transport.close()
        async with RawServer(silent) as base:
            pass  # closed: nothing listens on that port now
        transport = PooledTransport(timeout_s=1)
        with pytest.raises(DeliveryError):
            await transport.send("POST", f"{base}/h", {}, b"")
        await transport.close()
        return errors

    assert asyncio.run(main()) == ["TimeoutError", HttpProtocolError.__name__]
