"""The service's FastAPI application factory.

`create_app(settings)` is the one factory of the service's app (`flexrec serve`, each web process
of `--processes N`, and the tests): it builds the services (database, SDK client, queue,
recording service, archive) unless handed ready ones, mounts every router (webhooks, agent,
admin, compliance, health, docs, the archive's media routes and the console), and starts/stops
the in-process queue consumer with the app's lifespan. Nothing connects at import time; services
built at startup get their archive and console routes mounted then.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from flexrec import package_version
from flexrec.app.archive import ensure_console_secret
from flexrec.app.console import console_deps_from_services
from flexrec.app.services import build_services
from flexrec.archive.signed_urls import MediaLinkSigner
from flexrec.config import Settings
from flexrec.console.router import create_console_router
from flexrec.logs import get_logger, register_secrets
from flexrec.recording import metrics as _recording_metrics  # noqa: F401 - registers counters
from flexrec.server import (
    routes_admin,
    routes_agent,
    routes_card_data,
    routes_compliance,
    routes_health,
    routes_users,
    routes_webhooks,
)
from flexrec.server.docs_pages import add_docs_pages
from flexrec.server.metrics import RequestMetricsMiddleware
from flexrec.server.routes_archive import make_archive_router
from flexrec.server.service_app import ServiceApp
from flexrec.server.services import Services
from flexrec.server.signature_watch import SignatureWatch
from flexrec.web.body_limit import BodyLimitMiddleware
from flexrec.web.error_boundary import (
    CLIENT_CLOSED_REQUEST,
    ErrorBoundaryMiddleware,
    http_error_response,
)
from flexrec.web.responses import validation_is_400

log = get_logger(__name__)


# The app's own rules, outermost first, around every path; the webhook paths get them around
# their edge alone (flexrec.server.service_app), every other path around FastAPI's routing.
_RULES = (
    # Outermost: whatever raises inside is answered here, so the server never sees a raise (it
    # would close the keep-alive connection).
    ErrorBoundaryMiddleware,
    RequestMetricsMiddleware,
    # Every body is capped before any route reads it (routes authenticate after reading).
    BodyLimitMiddleware,
)


def _secrets_of(settings: Settings) -> list[str]:
    return [
        settings.twilio.auth_token.get_secret_value(),
        settings.twilio.api_secret.get_secret_value(),
        settings.server.admin_token.get_secret_value(),
        settings.server.metrics_token.get_secret_value(),
        settings.server.console_secret.get_secret_value(),
        settings.storage.archive_key.get_secret_value(),
    ]


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only
    return http_error_response(exc)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for this type only
    # Echo where the problem is, never the submitted values (they may hold a token).
    problems = [
        {"loc": list(err.get("loc", ())), "message": err.get("msg", "")} for err in exc.errors()
    ]
    return JSONResponse(
        {"error": "invalid_request", "message": "the request is not valid", "problems": problems},
        status_code=400,
    )


async def _client_gone(_request: Request, _exc: Exception) -> Response:
    # The client hung up mid-request: nobody reads this answer, and it is no server error.
    # 499 (nginx's "client closed request") keeps it apart from the 5xx in metrics and logs.
    return Response(status_code=CLIENT_CLOSED_REQUEST)


def create_app(
    settings: Settings, services: Services | None = None, *, owns_services: bool = False
) -> FastAPI:
    """Build the service's ASGI app; without `services`, `build_services` runs at startup.

    The app closes the services at shutdown when it built them or `owns_services` says so.
    """
    register_secrets(_secrets_of(settings))
    owned = services is None or owns_services

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.services is None:
            app.state.services = build_services(settings)
            _mount_parts(app, settings, app.state.services)
        current: Services = app.state.services
        if not settings.server.validate_signatures:
            log.warning("webhook_signature_validation_disabled")
        current.start()
        try:
            current.answering()
        except Exception:  # the run's history must never keep the service from answering
            log.exception("run_history_not_written")
        try:
            yield
        finally:
            if owned:
                current.close()
            elif current.run_consumer and current.queue is not None:
                current.queue.stop()

    app = ServiceApp(
        _RULES,
        title="flexrec",
        summary="Server-side dual-channel call recording for Twilio Flex",
        version=package_version(),
        lifespan=lifespan,
        docs_url=None,  # served from the package by add_docs_pages (no CDN)
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.services = services
    app.state.signature_watch = SignatureWatch(settings.twilio.account_sid)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    origins = settings.server.cors_origin_list()
    if origins:  # only a browser plugin on another origin needs it; webhooks never do
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_credentials=False,  # tokens travel in headers/bodies, never cookies
            allow_methods=["GET", "POST"],
            # If-None-Match: the plugin's long poll; ETag/Retry-After must be readable by it.
            allow_headers=["Authorization", "Content-Type", "If-None-Match"],
            expose_headers=["ETag", "Retry-After"],
            max_age=600,
        )
    for rule in reversed(_RULES):  # the first added is the innermost
        app.add_middleware(rule)
    for module in (
        routes_agent,
        routes_card_data,
        routes_admin,
        routes_compliance,
        routes_users,
        routes_health,
    ):
        app.include_router(module.router)
    add_docs_pages(app)
    if services is not None:
        _mount_parts(app, settings, services)
    _document_validation_as_400(app)
    return app


def _mount_parts(app: FastAPI, settings: Settings, services: Services) -> None:
    """The archive's and the console's routes, which need the built services."""
    if services.archive is None and services.sessions is None:
        return  # route tests with stub services: nothing for these routes to serve
    signer = MediaLinkSigner(ensure_console_secret(settings))
    if services.archive is not None:
        app.include_router(
            make_archive_router(
                services.archive,
                services.tokens,
                signer,
                settings.server.public_url,
                guard=services.token_guard,
            )
        )
    if services.sessions is not None:
        app.include_router(
            create_console_router(console_deps_from_services(services, settings, signer=signer))
        )


def _document_validation_as_400(app: FastAPI) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = routes_webhooks.document(validation_is_400(build()))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
