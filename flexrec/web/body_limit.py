"""Caps every request body before any route reads it (413), whether or not it declares a length.

Routes authenticate after reading their body (a Flex `Token` field, a webhook's signed form),
so a stranger could otherwise make the process hold a body of any size: a chunked upload has
no Content-Length to refuse up front. This ASGI middleware answers 413 for a declared length
over the path's limit without reading anything, and counts the bytes a route pulls through
`receive`, failing the read (a 413 `HTTPException`, shaped like every other error) the moment
the count passes the limit, so at most one chunk past the limit is ever held.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flexrec.webhooks import paths

# Twilio's form callbacks are a few KB; an Event Streams batch can be larger.
MAX_WEBHOOK_FORM_BYTES = 256 * 1024
MAX_WEBHOOK_JSON_BYTES = 8 * 1024 * 1024
# Everything else (agent/admin APIs, console, media links) only ever posts a token or a few
# small fields.
MAX_OTHER_BODY_BYTES = 64 * 1024


def body_limit_for(path: str) -> int:
    """The most bytes a request body to `path` may have."""
    if path == paths.EVENT_STREAMS:
        return MAX_WEBHOOK_JSON_BYTES
    if path.startswith(paths.PREFIX + "/"):
        return MAX_WEBHOOK_FORM_BYTES
    return MAX_OTHER_BODY_BYTES


class BodyTooLarge(HTTPException):
    """A request body passed its path's limit (answered 413 like every other error)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            detail={
                "error": "body_too_large",
                "message": f"request bodies here are limited to {limit} bytes",
            },
        )


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() and len(text) < 20 else None
    return None


class BodyLimitMiddleware:
    """ASGI middleware refusing bodies over `limit_for(path)` bytes with 413."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int] = body_limit_for) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request with a counting `receive`; 413 when the body is too large."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _answer_413(send, limit)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            # Read outside a route's exception handling (a middleware): answer here.
            if started:
                raise
            await _answer_413(send, limit)


async def _answer_413(send: Send, limit: int) -> None:
    body = json.dumps(
        {"error": "body_too_large", "message": f"request bodies here are limited to {limit} bytes"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The rest of the body is never read: the connection cannot be reused.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
