"""What every Twilio route shares: faults, Basic auth, account scoping, locking, error bodies.

Routes are plain Starlette endpoints (no pydantic, no dependency injection) because the
simulator answers the control plane of ~140 calls a second. Each operation is a function
`(ctx, req) -> ApiResult` run under the world lock, or a coroutine that locks for itself.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from flexsim.api.formats import Hosts
from flexsim.api.params import Params
from flexsim.errors import (
    TwilioApiError,
    authenticate,
    fault_error,
    internal_error,
    invalid_parameter,
    not_found,
)
from flexsim.latency import LatencyModel
from flexsim.request_log import RequestLog
from flexsim.world import World

log = logging.getLogger(__name__)


class ApiFault(Protocol):
    """An injected failure: wait `delay_s` first, then answer `status` (None: answer normally)
    with Twilio's error `code` (None, or no such attribute: 20000 + status)."""

    @property
    def status(self) -> int | None: ...

    @property
    def delay_s(self) -> float: ...

    @property
    def code(self) -> int | None: ...


class ApiFaults(Protocol):
    """The fault plan the REST layer consults before every Twilio route."""

    def api_fault(self, method: str, path: str) -> ApiFault | None:
        """The fault to apply to this request, if any."""
        ...


@dataclass
class ApiContext:
    """What operations need besides the request: the world and how to write URLs."""

    world: World
    credentials: Mapping[str, str]  # username (AC or SK SID) -> password (token or secret)
    hosts: Hosts
    faults: ApiFaults | None = None
    latency: LatencyModel | None = None  # how long Twilio takes to answer (None: at once)
    started_at: float = 0.0  # simulated epoch the account's fixed resources date from
    requests: RequestLog = field(default_factory=RequestLog)  # every request answered
    _accepted: set[str] = field(default_factory=set)  # Authorization values already checked

    def authorized(self, header: str | None) -> bool:
        """Whether an `Authorization: Basic` header carries known credentials."""
        if header is None:
            return False
        if header in self._accepted:
            return True
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        expected = self.credentials.get(user)
        if not sep or expected is None:
            return False
        if not hmac.compare_digest(expected.encode(), password.encode()):
            return False
        if len(self._accepted) < 64:
            self._accepted.add(header)
        return True


@dataclass
class ApiRequest:
    """A parsed Twilio request."""

    method: str
    path: str
    path_params: dict[str, str]
    query: Params
    form: Params
    headers: Mapping[str, str]
    body: bytes = b""

    @property
    def params(self) -> Params:
        """Where the operation's parameters are: the form for POST, the query string otherwise."""
        return self.form if self.method == "POST" else self.query


@dataclass
class ApiResult:
    """What an operation answers: a JSON body, or raw bytes (media)."""

    status: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    media_type: str = "application/json"


SyncHandler = Callable[[ApiContext, ApiRequest], ApiResult]
AsyncHandler = Callable[[ApiContext, ApiRequest], Awaitable[ApiResult]]


@dataclass(frozen=True)
class Operation:
    """One served (method, path template) pair; templates use Twilio's OpenAPI names."""

    method: str
    path: str
    handler: SyncHandler | AsyncHandler
    spec: str | None  # which OpenAPI file describes it (None: not in Twilio's specs)


def json_response(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON response, compact like Twilio's."""
    content = json.dumps(body, separators=(",", ":")).encode()
    return Response(content, status_code=status, media_type="application/json", headers=headers)


def error_response(error: TwilioApiError) -> Response:
    """Twilio's error body with the error's status."""
    headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if error.status == 401 else {}
    return json_response(error.status, error.body(), headers)


def _parse_form(body: bytes, content_type: str) -> Params:
    # The SDK always posts form bodies; JSON (IAM) and multipart bodies carry no form fields.
    if not body or content_type.startswith(("application/json", "multipart/")):
        return Params()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid_parameter("body", "must be UTF-8 form encoding") from None
    return Params(parse_qsl(text, keep_blank_values=True))


def _check_scope(ctx: ApiContext, path: str, path_params: Mapping[str, str]) -> None:
    """The account in the path must be the world's; so must the workspace."""
    account = path_params.get("AccountSid")
    if account is not None and account != ctx.world.account_sid:
        raise not_found(path)
    workspace = path_params.get("WorkspaceSid")
    if workspace is not None and workspace != ctx.world.workspace_sid:
        raise not_found(path)


def make_endpoint(ctx: ApiContext, op: Operation) -> Callable[[Request], Awaitable[Response]]:
    """Wrap an operation into a Starlette endpoint."""
    is_async = inspect.iscoroutinefunction(op.handler)

    async def endpoint(request: Request) -> Response:
        response = await answer(request)
        ctx.requests.append(
            request.method, request.url.path, request.url.query, response.status_code
        )
        return response

    async def answer(request: Request) -> Response:
        path = request.url.path
        try:
            if ctx.latency is not None:
                await asyncio.sleep(ctx.latency.sample_s())
            if ctx.faults is not None:
                fault = ctx.faults.api_fault(request.method, path)
                if fault is not None:
                    if fault.delay_s > 0:
                        await asyncio.sleep(fault.delay_s)
                    if fault.status is not None:
                        # A fault plan written before faults carried Twilio's code still works.
                        code = getattr(fault, "code", None)
                        return error_response(fault_error(fault.status, code))
            if not ctx.authorized(request.headers.get("authorization")):
                raise authenticate()
            path_params = {k: str(v) for k, v in request.path_params.items()}
            _check_scope(ctx, path, path_params)
            body = await request.body() if request.method == "POST" else b""
            content_type = request.headers.get("content-type", "")
            req = ApiRequest(
                method=request.method,
                path=path,
                path_params=path_params,
                query=Params(parse_qsl(request.url.query, keep_blank_values=True)),
                form=_parse_form(body, content_type) if request.method == "POST" else Params(),
                headers=request.headers,
                body=body,
            )
            if is_async:
                result = await op.handler(ctx, req)  # type: ignore[misc]
            else:
                with ctx.world.lock:
                    result = op.handler(ctx, req)
        except TwilioApiError as error:
            return error_response(error)
        except ClientDisconnect:
            # The client gave up (its own timeout, e.g. during an injected delay): nothing was
            # processed and nobody is left to answer.
            return Response(status_code=499)
        except Exception:
            # A genuine simulator bug: keep serving, answer like Twilio's 500.
            log.exception("sim api error on %s %s", request.method, path)
            return error_response(internal_error())
        if result.raw is not None:
            response = Response(result.raw, status_code=result.status, media_type=result.media_type)
        elif result.body is None:
            response = Response(status_code=result.status)
        else:
            response = json_response(result.status, result.body)
        for name, value in result.headers.items():
            # Keep Twilio's casing (`ETag`): the SDK hands clients a plain, case-sensitive dict.
            response.raw_headers.append((name.encode("latin-1"), value.encode("latin-1")))
        return response

    endpoint.__name__ = getattr(op.handler, "__name__", "endpoint")
    return endpoint
