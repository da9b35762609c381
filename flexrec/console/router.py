"""The console's APIRouter: sign-in, pages, JSON API under `/api` and static assets.

Mount with `app.include_router(create_console_router(deps))`; the prefix (default `/console`)
is built in. `deps` may be a zero-argument factory instead, called on the first request: the
service builds its parts in the app's lifespan, after the routers are mounted.
"""

from collections.abc import Callable

from fastapi import APIRouter

from flexrec.console.context import (
    ConsoleContext,
    ConsoleDeps,
)
from flexrec.console.routes_api import add_api_routes
from flexrec.console.routes_audit import add_audit_routes
from flexrec.console.routes_auth import add_auth_routes
from flexrec.console.routes_coverage import add_coverage_routes
from flexrec.console.routes_export import add_export_routes
from flexrec.console.routes_pages import add_page_routes
from flexrec.console.routes_transcripts import add_transcript_routes
from flexrec.twilio.flex_tokens import TokenValidator

__all__ = [
    "ConsoleDeps",
    "TokenValidator",
    "create_console_router",
]


def create_console_router(
    deps: ConsoleDeps | Callable[[], ConsoleDeps], prefix: str = "/console"
) -> APIRouter:
    """The console's APIRouter, its paths already under `prefix`."""
    ctx = ConsoleContext(deps, prefix.rstrip("/"))
    if isinstance(deps, ConsoleDeps):
        ctx.codec  # noqa: B018 - fail fast on a bad secret when everything is known up front
    router = APIRouter(prefix=ctx.base, tags=["console"])
    add_auth_routes(router, ctx)
    add_page_routes(router, ctx)
    add_api_routes(router, ctx)
    add_audit_routes(router, ctx)
    add_coverage_routes(router, ctx)
    add_export_routes(router, ctx)
    add_transcript_routes(router, ctx)
    return router
