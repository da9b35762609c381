"""The service's ASGI app: FastAPI, with Twilio's webhook paths on a short stack of their own.

A webhook is about twenty requests a call, and each went through nine ASGI layers before the
webhook edge: FastAPI's telemetry check and body limit, Starlette's error middleware and
exception handlers, then the app's own rules. The webhook edge (flexrec.server.routes_webhooks)
answers its own errors and never uses Starlette's error pages, FastAPI's exception handlers or
its telemetry, so `ServiceApp` sends webhook paths straight to the app's own rules (the error
boundary, the request metrics and log, the body cap: the same classes every other path goes
through, in the same order, listed once by whoever builds the app) around the edge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from flexrec.server import routes_webhooks

Rule = Callable[[ASGIApp], ASGIApp]  # an ASGI middleware class, given the app it wraps


class ServiceApp(FastAPI):
    """FastAPI whose webhook paths skip its own layers: `webhook_rules` (ASGI middleware classes,
    outermost first: the ones the builder also adds to every other path) wrap the edge."""

    def __init__(self, webhook_rules: Sequence[Rule], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        webhooks: ASGIApp = routes_webhooks.serve_webhook
        # Outermost first: the first rule sees the request first, as it does on other paths.
        for rule in reversed(webhook_rules):
            webhooks = rule(webhooks)
        self._webhooks = webhooks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A webhook path to the short stack; anything else to FastAPI."""
        if scope["type"] == "http" and scope["path"] in routes_webhooks.ROUTES:
            if self.root_path:
                scope["root_path"] = self.root_path
            scope["app"] = self  # as Starlette sets it: the edge reads the app's state
            await self._webhooks(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
