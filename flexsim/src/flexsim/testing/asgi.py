"""An httpx transport into an ASGI app in this process (Starlette's TestClient under it)."""

from __future__ import annotations

import httpx
from starlette.testclient import TestClient

from flexsim.testing.http import IN_PROCESS_ORIGIN, ASGIApp


class AppTransport(httpx.BaseTransport):
    """A synchronous httpx transport that hands every request to an ASGI app in this process
    (through Starlette's TestClient), whatever host the request names; `urls` keeps each
    request's full URL in order."""

    def __init__(self, app: ASGIApp) -> None:
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
