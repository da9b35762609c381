"""Liveness (`/healthz`: database and queue reachable, cheap), readiness (`/readyz`, see
flexrec.server.readiness) and Prometheus `/metrics`."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from flexrec.coverage.metrics import COVERAGE_COUNTERS
from flexrec.custody.metrics import refresh_custody_gauges
from flexrec.server.deps import get_services, get_settings
from flexrec.server.logging_setup import get_logger
from flexrec.server.readiness import QUEUE_DEPTH, Readiness, refresh_archive_gauges

log = get_logger(__name__)
router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    summary="Database and queue reachable",
    responses={503: {"description": "A dependency is unreachable: which one"}},
)
async def healthz(request: Request) -> JSONResponse:
    """200 with each check's result when all pass, else 503 naming what failed."""
    results: dict[str, str] = {}
    for name, check in get_services(request).health_checks.items():
        try:
            await run_in_threadpool(check)
            results[name] = "ok"
        except Exception as exc:
            # The exception text may carry a connection URL; only its type is shown.
            log.warning("health_check_failed", check=name, error=type(exc).__name__)
            results[name] = f"failed: {type(exc).__name__}"
    healthy = all(v == "ok" for v in results.values())
    return JSONResponse(
        {"status": "ok" if healthy else "unavailable", "checks": results},
        status_code=200 if healthy else 503,
    )


def _readiness(request: Request) -> Readiness:
    # Built on first use: the services may be created in the app's lifespan.
    readiness: Readiness | None = getattr(request.app.state, "readiness", None)
    if readiness is None:
        readiness = Readiness.for_services(
            get_services(request), get_settings(request), request.app.state.signature_watch
        )
        request.app.state.readiness = readiness
    return readiness


@router.get(
    "/readyz",
    summary="Able to do its job (503 with the reasons if not)",
    responses={503: {"description": "Not ready: the failing checks and what to do"}},
)
async def readyz(request: Request) -> JSONResponse:
    """Database writable, queue reachable, Twilio credentials accepted, webhooks passing their
    signature check, archive store working: 200, else 503 with what is wrong and what to do."""
    ready, results = await run_in_threadpool(_readiness(request).run)
    if not ready:
        failing = {k: v for k, v in results.items() if v != "ok"}
        log.warning("not_ready", **failing)
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": results},
        status_code=200 if ready else 503,
    )


def _refresh_gauges(request: Request) -> None:
    services = get_services(request)
    try:
        if services.queue is not None and hasattr(services.queue, "huey"):
            QUEUE_DEPTH.set(int(services.queue.huey.pending_count()))
        if services.archive is not None:
            refresh_archive_gauges(services.archive.sessions)
            refresh_custody_gauges(services.archive.sessions)
        if services.sessions is not None:
            COVERAGE_COUNTERS.refresh(services.sessions)
    except Exception as exc:  # a scrape still answers; /readyz says what is wrong
        log.warning("metrics_refresh_failed", error=type(exc).__name__)


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Every metric on the default registry, in the Prometheus text format."""
    await run_in_threadpool(_refresh_gauges, request)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
