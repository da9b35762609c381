"""Prometheus metrics of the HTTP layer and the ASGI middleware that records them.

Registered once on the default registry, so `/metrics` also shows the recording service's own
counters (flexrec.recording.metrics) and the process collectors.
"""

from __future__ import annotations

import functools
import logging
import time

from prometheus_client import Counter, Histogram, Summary
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flexrec.logs import bound_sids, get_logger
from flexrec.webhooks.arrival import mark_arrival, reset_arrival

log = get_logger("flexrec.http")
_stdlib_log = logging.getLogger("flexrec.http")
_SLOW_S = 1.0
_QUIET_ROUTES = frozenset({"/healthz", "/metrics"})
# A route sets this in the ASGI scope when taking long is its job (a held long poll).
WAITS_ON_PURPOSE = "flexrec.waits_on_purpose"

REQUEST_SECONDS = Histogram(
    "flexrec_http_request_duration_seconds",
    "Time to answer an HTTP request, per route template.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0),
)
WEBHOOKS = Counter(
    "flexrec_webhooks_total",
    "Webhooks received, by source and outcome (accepted, repeat, forged, malformed, error).",
    ["source", "outcome"],
)
HANDLER_CPU = Summary(
    "flexrec_webhook_handler_cpu_seconds",
    "CPU time of the thread that handled a webhook's event (signature and parsing excluded;"
    " repeats answered from memory not included), by source and event kind.",
    ["source", "kind"],
)


# A metric's `labels()` takes its lock and checks every value (2.5 us): a webhook asked for three
# children each time. The label sets are few (route templates, sources, kinds), so each child is
# looked up once; the bound keeps a stranger's odd methods from growing it for ever.
@functools.lru_cache(maxsize=2048)
def request_seconds(method: str, route: str, status: str) -> Histogram:
    """The request-duration child for these labels."""
    return REQUEST_SECONDS.labels(method, route, status)


@functools.lru_cache(maxsize=512)
def webhooks_counted(source: str, outcome: str) -> Counter:
    """The webhook counter's child for this source and outcome."""
    return WEBHOOKS.labels(source, outcome)


@functools.lru_cache(maxsize=512)
def handler_cpu(source: str, kind: str) -> Summary:
    """The handler-CPU child for this source and event kind."""
    return HANDLER_CPU.labels(source, kind)


TOKEN_CHECKS = Counter(
    "flexrec_flex_token_checks_total",
    "Flex token checks on the agent and admin APIs, by outcome.",
    ["outcome"],
)


class RequestMetricsMiddleware:
    """Times every HTTP request and labels it with the matched route template (bounded labels)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        arrival = mark_arrival(time.monotonic())
        status = 500
        # Twilio repeats this header on retries of one delivery: it ties retries together.
        delivery = _header(scope, b"i-twilio-idempotency-token")

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            with bound_sids(delivery_id=delivery):
                await self.app(scope, receive, send_wrapper)
        finally:
            reset_arrival(arrival)
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            elapsed = time.perf_counter() - started
            request_seconds(scope["method"], template, str(status)).observe(elapsed)
            # Path only: headers and bodies (tokens, signatures) are never logged. A line per
            # answered request cost more than parsing it, and the histogram above already
            # counts them: INFO shows failures and slow answers, DEBUG shows every request.
            slow = (
                elapsed >= _SLOW_S
                and template not in _QUIET_ROUTES
                and not scope.get(WAITS_ON_PURPOSE)
            )
            level = logging.INFO if status >= 400 or slow else logging.DEBUG
            if _stdlib_log.isEnabledFor(level):
                log.log(
                    level,
                    "http_request",
                    method=scope["method"],
                    path=scope.get("path", ""),
                    route=template,
                    status=status,
                    duration_ms=round(elapsed * 1000, 1),
                    delivery_id=delivery,
                )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")[:100]
    return None
