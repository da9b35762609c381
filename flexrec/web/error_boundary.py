"""The app's last line: an unexpected error is answered 500 here, and a client that went away
is not a server error.

Starlette's own error middleware answers 500 and then re-raises, and uvicorn closes the
connection of any request whose app raised: one bad request cost the caller (Twilio, a proxy)
its keep-alive connection. Errors stop here instead, logged once with the route's path. A
client disconnecting mid-body (`ClientDisconnect`) is logged at info: nobody is left to answer.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flexrec.logs import get_logger

log = get_logger("flexrec.http")

# nginx's "client closed request": a client that hung up is kept apart from the 5xx.
CLIENT_CLOSED_REQUEST = 499

_BODY = json.dumps(
    {"error": "internal_error", "message": "the request could not be processed; retry later"}
).encode()


class ErrorBoundaryMiddleware:
    """Answer unhandled errors with a JSON 500 without raising to the server."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:
            log.info("client_disconnected", path=scope.get("path"))
        except Exception:
            log.exception("unhandled_error", path=scope.get("path"))
            if started:
                return  # part of an answer is out: the server has to close this connection
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(_BODY)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": _BODY})


def http_error_response(exc: HTTPException) -> JSONResponse:
    """The answer to an `HTTPException`: its status, headers and `{"error", "message"}` body."""
    detail: Any = exc.detail
    body = detail if isinstance(detail, dict) else {"error": "http_error", "message": str(detail)}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)
