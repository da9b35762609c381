"""Liveness (`/healthz`: database and queue reachable, cheap), readiness (`/readyz`, see
flexrec.server.readiness) and Prometheus `/metrics` (from memory; FLEXREC_METRICS_TOKEN
guards it when set)."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from flexrec.logs import get_logger
from flexrec.server.auth import admin_caller
from flexrec.server.deps import get_services, get_settings
from flexrec.server.readiness import Readiness
from flexrec.server.token_source import bearer_token

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
    summary="Able to do its job (503 if not; the reasons for an authenticated caller)",
    responses={
        401: {"description": "An Authorization header that is not the admin token nor a valid "
              "supervisor/admin Flex token"},
        403: {"description": "A Flex token without the supervisor or admin role"},
        503: {"description": "Not ready: the failing checks (and, authenticated, what to do)"},
    },
)  # fmt: skip
async def readyz(request: Request) -> JSONResponse:
    """Database writable, queue reachable, Twilio credentials accepted, archive store working:
    200, else 503. Anonymous callers (load balancers) see each check's name and `ok` or
    `failing`; with `Authorization: Bearer <FLEXREC_ADMIN_TOKEN or a supervisor Flex token>`
    each line says what is wrong and what to do, plus the reports that never fail readiness
    (`webhooks`: every webhook naming this account failing its signature check)."""
    authenticated = bearer_token(request) is not None
    if authenticated:
        await admin_caller(request)  # 401/403 for a credential that is wrong
    ready, results = await run_in_threadpool(_readiness(request).run)
    checks = _readiness(request).checks
    if not ready:
        log.warning("not_ready", **{k: r.detail for k, r in results.items() if not r.ok})
    body: dict[str, object] = {"status": "ready" if ready else "not_ready"}
    if authenticated:
        body["checks"] = {k: r.detail for k, r in results.items() if k in checks}
        body["reports"] = {k: r.detail for k, r in results.items() if k not in checks}
    else:
        # What a check found (database errors, archive messages) is not for strangers.
        body["checks"] = {k: "ok" if r.ok else "failing" for k, r in results.items() if k in checks}
    return JSONResponse(body, status_code=200 if ready else 503)


def _metrics_allowed(request: Request) -> bool:
    expected = get_settings(request).server.metrics_token.get_secret_value()
    if not expected:
        return True
    presented = bearer_token(request) or ""
    return hmac.compare_digest(presented.encode(), expected.encode())


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    include_in_schema=False,
    responses={401: {"description": "FLEXREC_METRICS_TOKEN is set and was not presented"}},
)
async def metrics(request: Request) -> Response:
    """Every metric on the default registry, in the Prometheus text format, from memory (the
    service refreshes its gauges itself: flexrec.server.gauges), with the jobs worker's merged
    in (flexrec.server.jobs_metrics). With FLEXREC_METRICS_TOKEN set, only
    `Authorization: Bearer <that token>` may scrape."""
    if not _metrics_allowed(request):
        return JSONResponse(
            {"error": "unauthorized", "message": "send 'Authorization: Bearer <metrics token>'"},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="flexrec-metrics"'},
        )
    jobs = get_services(request).jobs_worker
    if jobs is None:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
    # The worker's metrics are fetched (a local HTTP request, at most once a second): off the
    # event loop.
    return Response(await run_in_threadpool(jobs.exposition), media_type=CONTENT_TYPE_LATEST)
