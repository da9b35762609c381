"""Liveness/readiness (`/healthz`: database and queue reachable) and Prometheus `/metrics`."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from flexrec.server.deps import get_services
from flexrec.server.logging_setup import get_logger

log = get_logger(__name__)
router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Database and queue reachable")
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


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
def metrics() -> Response:
    """Every metric on the default registry, in the Prometheus text format."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
