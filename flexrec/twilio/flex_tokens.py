"""Flex token validation through Twilio IAM, with a bounded cache of positive answers.

Flex tokens are JWEs only Twilio can decrypt, so each new token is posted to
`https://iam.twilio.com/v1/Accounts/{AC}/Tokens/validate` (Basic auth with the account's
credentials). What is remembered of the answers, and what never reaches IAM, is the token
guard's business (flexrec.web.token_guard), keyed by a SHA-256 of the token so the token
itself is never kept. An unreachable IAM is `TokenServiceUnavailable` (try later), never
mistaken for a bad token.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx

IAM_ORIGIN = "https://iam.twilio.com"
SUPERVISOR_ROLES = frozenset({"supervisor", "admin"})
# Real Flex tokens are JWEs of one to a few KB; anything far longer is refused without asking.
MAX_TOKEN_CHARS = 8192


class TokenError(Exception):
    """Base of the token validation errors."""


class InvalidToken(TokenError):
    """The token is missing, malformed, expired or rejected by Twilio (answer 401)."""


class TokenServiceUnavailable(TokenError):
    """Twilio IAM could not give an answer (answer 503: the token may well be fine)."""


@dataclass(frozen=True)
class TokenInfo:
    """Who a valid Flex token belongs to."""

    identity: str
    worker_sid: str | None
    roles: tuple[str, ...]
    expires_at: float | None  # epoch seconds

    @property
    def is_supervisor(self) -> bool:
        """True for supervisors and admins, who may act on any task."""
        return bool(SUPERVISOR_ROLES.intersection(self.roles))


class TokenValidator(Protocol):
    """Turns a Flex token into who holds it: the port every route that takes a Flex token uses
    (`FlexTokenValidator` here; small stubs in tests)."""

    def validate(self, token: str) -> TokenInfo:
        """Who holds the token; raises `InvalidToken` or `TokenServiceUnavailable`."""
        ...


def token_fingerprint(token: str) -> str:
    """A SHA-256 hex digest standing in for the token in caches and logs."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_expiration(value: Any) -> float | None:
    """Epoch seconds from IAM's `expiration` (ISO 8601 string, or epoch seconds/milliseconds)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        # Values past the year 33658 in seconds are really milliseconds.
        return float(value) / 1000.0 if value > 1e12 else float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            try:
                return parse_expiration(float(value))
            except ValueError:
                return None
    return None


class FlexTokenValidator:
    """Validates Flex tokens against Twilio IAM (or the simulator, when `base_url` is set)."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        base_url: str = "",
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        # Same rule as the SDK client's rebasing: one origin replaces every Twilio host.
        origin = base_url.rstrip("/") if base_url else IAM_ORIGIN
        self._url = f"{origin}/v1/Accounts/{account_sid}/Tokens/validate"
        self._auth = (account_sid, auth_token)
        self._timeout_s = timeout_s
        self._transport = transport
        # Made on first use: its TLS context is a tenth of a second of every start-up (which
        # live calls wait for), and IAM is asked only once an agent or the console signs in.
        self._http: httpx.Client | None = None
        self._making = threading.Lock()
        self._clock = clock

    def _client(self) -> httpx.Client:
        with self._making:
            if self._http is None:
                self._http = httpx.Client(
                    auth=self._auth, timeout=self._timeout_s, transport=self._transport
                )
            return self._http

    def validate(self, token: str) -> TokenInfo:
        """Return who the token belongs to, or raise `InvalidToken`/`TokenServiceUnavailable`."""
        token = token.strip()
        if not token:
            raise InvalidToken("no Flex token given")
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidToken("this is not a Flex token")
        info = self._ask_iam(token)
        if info.expires_at is not None and info.expires_at <= self._clock():
            raise InvalidToken("the Flex token has expired")
        return info

    def _ask_iam(self, token: str) -> TokenInfo:
        try:
            response = self._client().post(self._url, json={"token": token})
        except httpx.HTTPError as exc:
            raise TokenServiceUnavailable(f"Twilio IAM unreachable: {type(exc).__name__}") from exc
        # 401/403 from IAM mean *our* credentials were refused, 429/5xx that it is busy: neither
        # says anything about the agent's token.
        if response.status_code in (401, 403, 429) or response.status_code >= 500:
            raise TokenServiceUnavailable(f"Twilio IAM answered {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise TokenServiceUnavailable("Twilio IAM answered with non-JSON") from exc
        if not isinstance(body, dict):
            raise TokenServiceUnavailable("Twilio IAM answered with an unexpected body")
        if response.status_code >= 400 or body.get("valid") is not True:
            raise InvalidToken(str(body.get("message") or "the Flex token is not valid"))
        roles = body.get("roles") or []
        return TokenInfo(
            identity=str(body.get("identity") or ""),
            worker_sid=(str(body["worker_sid"]) if body.get("worker_sid") else None),
            roles=tuple(str(r) for r in roles) if isinstance(roles, list) else (),
            expires_at=parse_expiration(body.get("expiration")),
        )

    def close(self) -> None:
        """Release the HTTP connection pool."""
        with self._making:
            if self._http is not None:
                self._http.close()
