"""`create_sim_app`: the simulator's one origin serving Twilio's REST paths (plus extra routers).

Twilio routes are plain Starlette routes made from `Operation`s (see `routing`); the engine's
`/_sim` control router and anything else arrive as FastAPI routers. FastAPI's own docs routes
are off: this app's contract is Twilio's OpenAPI specs, not a generated one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fastapi import APIRouter, FastAPI
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from flexsim import defaults
from flexsim.api import (
    accounts,
    events,
    flex,
    iam,
    taskrouter,
    taskrouter_config,
    taskrouter_tasks,
    voice_calls,
    voice_conference_recordings,
    voice_conferences,
    voice_recordings,
)
from flexsim.api.formats import Hosts
from flexsim.api.routing import ApiContext, ApiFaults, Operation, error_response, make_endpoint
from flexsim.errors import method_not_allowed, not_found
from flexsim.latency import LatencyModel
from flexsim.request_log import RequestLog
from flexsim.world import World

OPERATIONS: tuple[Operation, ...] = (
    *accounts.OPERATIONS,
    *voice_calls.OPERATIONS,
    *voice_recordings.OPERATIONS,
    *voice_conferences.OPERATIONS,
    *voice_conference_recordings.OPERATIONS,
    *taskrouter.OPERATIONS,
    *taskrouter_tasks.OPERATIONS,
    *taskrouter_config.OPERATIONS,
    *flex.OPERATIONS,
    *events.OPERATIONS,
    *iam.OPERATIONS,
)

# Every served Twilio (method, path template); templates use the OpenAPI specs' names.
SERVED_ROUTES: tuple[tuple[str, str], ...] = tuple((op.method, op.path) for op in OPERATIONS)


@dataclass(frozen=True)
class SimCredentials:
    """Who may call the simulated account: its auth token and its API keys."""

    auth_token: str = defaults.AUTH_TOKEN
    api_keys: Mapping[str, str] = field(
        default_factory=lambda: {defaults.API_KEY_SID: defaults.API_KEY_SECRET}
    )

    def for_account(self, account_sid: str) -> dict[str, str]:
        """Basic-auth usernames mapped to their passwords."""
        return {account_sid: self.auth_token, **self.api_keys}


def create_sim_app(
    world: World,
    *,
    faults: ApiFaults | None = None,
    extra_routers: Sequence[APIRouter] = (),
    credentials: SimCredentials | None = None,
    public_base_url: str | None = None,
    latency: LatencyModel | None = None,
    request_log: RequestLog | None = None,
) -> FastAPI:
    """Build the simulator's ASGI app for `world`.

    `public_base_url` makes absolute URLs in responses (TaskRouter `url`, `media_url`, page
    links) point at the simulator instead of Twilio's hosts; by default they name Twilio's
    hosts, exactly like Twilio, and clients rebase them as they rebase every Twilio URL.
    `request_log` receives every request answered (default: a new one, `app.state.sim_context.
    requests`).
    """
    creds = credentials or SimCredentials()
    ctx = ApiContext(
        world=world,
        credentials=creds.for_account(world.account_sid),
        hosts=Hosts.single(public_base_url) if public_base_url else Hosts(),
        faults=faults,
        latency=latency,
        started_at=world.clock.now(),
        requests=request_log if request_log is not None else RequestLog(),
    )
    app = FastAPI(
        title="flexsim: a simulated Twilio Flex account",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    for op in OPERATIONS:
        app.router.routes.append(Route(op.path, make_endpoint(ctx, op), methods=[op.method]))
    for router in extra_routers:
        app.include_router(router)

    async def twilio_http_error(request: Request, exc: Exception) -> Response:
        # Unknown paths and methods answer like Twilio, except under the engine's /_sim.
        assert isinstance(exc, HTTPException)  # noqa: S101 - registered for this type only
        if request.url.path.startswith("/_sim"):
            return await http_exception_handler(request, exc)
        if exc.status_code == 405:
            return error_response(method_not_allowed(request.method))
        if exc.status_code == 404:
            return error_response(not_found(request.url.path))
        return await http_exception_handler(request, exc)

    app.add_exception_handler(HTTPException, twilio_http_error)
    app.state.sim_context = ctx
    return app
