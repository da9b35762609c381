"""The one error translation for every Twilio call the service makes.

Whatever fails under a call (the SDK's `TwilioRestException` / `TwilioException`,
http.client's errors from the pooled transport, urllib3's and requests' errors, OS errors,
timeouts) leaves the gateway as a `GatewayError`: callers decide retry or fail from `retryable`
and `code` without importing the SDK or the transport. `retryable` covers 429, 5xx, timeouts
and connection errors.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from contextlib import contextmanager

import requests
import urllib3
from twilio.base.exceptions import TwilioException, TwilioRestException


class GatewayError(Exception):
    """A Twilio call that failed; `status` is the HTTP status (None: no response)."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    @property
    def retryable(self) -> bool:
        """True for rate limits, server errors, timeouts and lost connections."""
        return self.status is None or self.status == 429 or self.status >= 500

    @property
    def not_found(self) -> bool:
        """True when Twilio answered 404 (the resource does not exist, or no longer)."""
        return self.status == 404


class PreconditionFailed(GatewayError):
    """The task changed since it was read (HTTP 412 on If-Match)."""


class UnreadableTask(GatewayError):
    """A task whose attributes cannot be read safely (nested past any real use): asking again
    gives the same answer, and writing back what we could read would lose what we could not."""

    @property
    def retryable(self) -> bool:
        """Never: the same task reads the same way next time."""
        return False


# Everything a Twilio call may raise below the gateway. Not all are OSErrors: http.client's
# IncompleteRead and BadStatusLine (an answer cut short or garbled) derive from its
# HTTPException, urllib3's and requests' errors (from code that still uses them) from theirs.
TRANSLATED: tuple[type[BaseException], ...] = (
    TwilioException,
    http.client.HTTPException,
    urllib3.exceptions.HTTPError,
    requests.RequestException,
    OSError,
    TimeoutError,
)


def translate(exc: BaseException) -> GatewayError:
    """The `GatewayError` for anything a Twilio call raised."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, TwilioRestException):
        cls = PreconditionFailed if exc.status == 412 else GatewayError
        return cls(f"Twilio {exc.status} {exc.code}: {exc.msg}", status=exc.status, code=exc.code)
    response = exc.args[1] if isinstance(exc, TwilioException) and len(exc.args) > 1 else None
    status = getattr(response, "status_code", None)
    if isinstance(status, int):
        # List pages fail with TwilioException("Unable to fetch page", response).
        code: int | None = None
        try:
            body = json.loads(getattr(response, "text", "") or "{}")
            code = int(body["code"]) if isinstance(body, dict) and "code" in body else None
        except (ValueError, TypeError):
            code = None
        cls = PreconditionFailed if status == 412 else GatewayError
        return cls(f"Twilio {status} {code}: {exc.args[0]}", status=status, code=code)
    # Timeouts and lost connections have no response: they may or may not have taken effect.
    return GatewayError(f"{type(exc).__name__}: {exc}", status=None)


@contextmanager
def twilio_call() -> Iterator[None]:
    """Run a Twilio call; whatever it raises below the gateway leaves as a `GatewayError`."""
    try:
        yield
    except GatewayError:
        raise
    except TRANSLATED as exc:
        raise translate(exc) from exc


def twilio_problem(status: int | None, detail: str) -> str:
    """The line for a failed Twilio call, by HTTP status (None: no answer at all)."""
    if status in (401, 403):
        return (
            f"Twilio refused the credentials (HTTP {status}): check TWILIO_ACCOUNT_SID and "
            "TWILIO_AUTH_TOKEN (or TWILIO_API_KEY and TWILIO_API_SECRET)"
        )
    if status is None:
        return (
            f"Twilio could not be reached ({detail}): check the network, a proxy, or "
            "FLEXREC_TWILIO_BASE_URL"
        )
    if status == 404:
        return (
            f"Twilio has no such resource ({detail}): check TWILIO_WORKSPACE_SID and the SIDs "
            "given, and that FLEXREC_TWILIO_BASE_URL (if set) points at the right place"
        )
    if status == 429 or status >= 500:
        return f"Twilio answered HTTP {status} ({detail}); try again, or see Twilio's status page"
    return f"Twilio refused the request (HTTP {status}: {detail})"
