"""An httpx transport into an ASGI app in this process, for synchronous clients.

httpx ships an ASGI transport for async clients only; this one runs it on an event loop of its
own per request (an anyio blocking portal, as Starlette's TestClient does, so nothing is left
running if a client is never closed), and a synchronous client (the twilio SDK's, a token
validator's) reaches the simulator's app without a socket.
"""

from __future__ import annotations

from typing import Any

import httpx
from anyio.from_thread import start_blocking_portal

from flexsim.testing.http import ASGIApp


class AppTransport(httpx.BaseTransport):
    """A synchronous httpx transport that hands every request to an ASGI app in this process,
    whatever host the request names; `urls` keeps each request's full URL in order."""

    def __init__(self, app: ASGIApp) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self.urls: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send the request's method, URL, headers and body to the app; wait for its answer."""
        self.urls.append(str(request.url))
        body = request.read()

        async def exchange() -> tuple[int, Any, bytes]:
            inner = httpx.Request(
                request.method, request.url, headers=request.headers, content=body
            )
            answer = await self._inner.handle_async_request(inner)
            return answer.status_code, answer.headers, await answer.aread()

        with start_blocking_portal() as portal:
            status, headers, content = portal.call(exchange)
        return httpx.Response(status, headers=headers, content=content)
