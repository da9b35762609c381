"""Who is calling the agent and admin APIs: a Flex token (from the header or the body) or the
admin bearer token.

Flex plugins send the token as `Authorization: Bearer <token>` or, like Twilio Functions, as a
`Token` field of a form or JSON body. A bad token is 401, an unreachable IAM 503 (the token may be
fine), a valid token without the needed role 403.
"""

from __future__ import annotations

import hmac
from typing import NoReturn

from fastapi import Request

from flexrec.archive.visibility import sees_everything
from flexrec.logs import get_logger
from flexrec.server.deps import fail, get_services, get_settings
from flexrec.server.metrics import TOKEN_CHECKS
from flexrec.server.token_source import bearer_token, body_token
from flexrec.twilio.flex_tokens import (
    InvalidToken,
    TokenInfo,
    TokenServiceUnavailable,
    TokenValidator,
    token_fingerprint,
)
from flexrec.web.token_guard import (
    TokenGuard,
    TokenLane,
    TooManyTokenChecks,
    check_token,
    retry_after_header,
)

log = get_logger(__name__)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="flexrec"'}
ADMIN_IDENTITY = "flexrec-admin"


async def request_token(request: Request) -> str:
    """The Flex token the request carries, or a 401."""
    token = bearer_token(request) or await body_token(request)
    if not token:
        missing_token("send a Flex token as 'Authorization: Bearer' or 'Token'")
    return token


async def validate_flex_token(
    request: Request, token: str, lane: TokenLane | None = None
) -> TokenInfo:
    """Ask IAM (through the app's guard and memory) who the token belongs to; 401 if invalid,
    429 if this client sent too many unknown tokens, 503 if IAM is down. `lane`: the live
    resource the request names, whose own budget pays when the client's is spent."""
    services = get_services(request)
    # What limits per token (held long polls) key on: a digest, never the token.
    request.state.token_digest = token_fingerprint(token.strip())
    return await check_flex_token(
        services.token_guard, services.tokens, token, client_of(request), lane
    )


def client_of(request: Request) -> str | None:
    """The caller's address, as the token guard budgets checks per client."""
    return request.client.host if request.client else None


def missing_token(message: str) -> NoReturn:
    """401 for a request that carries no token (counted)."""
    TOKEN_CHECKS.labels("missing").inc()
    fail(401, "missing_token", message, _CHALLENGE)


async def check_flex_token(
    guard: TokenGuard,
    validator: TokenValidator,
    token: str,
    client: str | None,
    lane: TokenLane | None = None,
) -> TokenInfo:
    """THE Flex-token caller of every route: the guard, IAM, the metrics, and the answer
    (401 invalid, 429 throttled, 503 IAM down) for a token however the route found it."""
    try:
        info = await check_token(guard, validator, token, client, lane)
    except TooManyTokenChecks as exc:
        TOKEN_CHECKS.labels("throttled").inc()
        fail(429, "too_many_token_checks", str(exc), retry_after_header(exc))
    except InvalidToken as exc:
        TOKEN_CHECKS.labels("invalid").inc()
        fail(401, "invalid_token", f"the Flex token was rejected: {exc}", _CHALLENGE)
    except TokenServiceUnavailable as exc:
        TOKEN_CHECKS.labels("unavailable").inc()
        log.warning("flex_token_service_unavailable", reason=str(exc))
        fail(503, "token_service_unavailable", "cannot validate Flex tokens now; retry shortly",
             {"Retry-After": "5"})  # fmt: skip
    TOKEN_CHECKS.labels("valid").inc()
    return info


async def flex_caller(request: Request, lane: TokenLane | None = None) -> TokenInfo:
    """The agent or supervisor behind the request's Flex token."""
    return await validate_flex_token(request, await request_token(request), lane)


async def admin_caller(request: Request) -> TokenInfo:
    """Dependency: the admin token holder, or a supervisor/admin Flex token (else 401/403)."""
    token = bearer_token(request)
    if not token:
        missing_token("send 'Authorization: Bearer <admin or supervisor token>'")
    admin_token = get_settings(request).server.admin_token.get_secret_value()
    if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return TokenInfo(ADMIN_IDENTITY, None, ("admin",), None)
    info = await validate_flex_token(request, token)
    # Listings of every recording: only for those the one access rule lets hear everything.
    if not sees_everything(info.roles):
        fail(403, "forbidden", "the admin API needs a supervisor or admin Flex role")
    return info
