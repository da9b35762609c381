"""Twilio-shaped REST errors raised by the simulator's HTTP surface.

Twilio answers every failed REST call with `{"code", "message", "more_info", "status"}`; the
official SDK turns that body into `TwilioRestException`. Codes used here:

    20001 invalid parameter (400)     20003 authenticate (401)      20004 method not allowed (405)
    20404 not found (404)             20412 precondition failed (412, stale If-Match)
    20429 too many requests (429)     20500 internal error (500)    20503 unavailable (503)
    21220 invalid call state (400: a realtime operation on a call that is not in progress)
"""

from __future__ import annotations

from typing import Any

MORE_INFO = "https://www.twilio.com/docs/errors/{code}"


class TwilioApiError(Exception):
    """An error the simulator answers with Twilio's error body."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        """Twilio's JSON error body."""
        return error_body(self.status, self.code, self.message)


def error_body(status: int, code: int, message: str) -> dict[str, Any]:
    """Build Twilio's JSON error body."""
    return {
        "code": code,
        "message": message,
        "more_info": MORE_INFO.format(code=code),
        "status": status,
    }


def not_found(path: str) -> TwilioApiError:
    """404 for an unknown resource, worded as Twilio words it."""
    return TwilioApiError(404, 20404, f"The requested resource {path} was not found")


def authenticate() -> TwilioApiError:
    """401 for missing or wrong credentials."""
    return TwilioApiError(401, 20003, "Authenticate")


def method_not_allowed(method: str) -> TwilioApiError:
    """405 for a method the resource does not support."""
    return TwilioApiError(405, 20004, f"Method not allowed: {method}")


def invalid_parameter(name: str, detail: str = "") -> TwilioApiError:
    """400 for a missing or malformed request parameter."""
    message = f"Invalid parameter: {name}" + (f" ({detail})" if detail else "")
    return TwilioApiError(400, 20001, message)


def invalid_call_state() -> TwilioApiError:
    """400/21220: recording or redirecting a call that is not in progress."""
    return TwilioApiError(400, 21220, "Invalid call state")


def precondition_failed() -> TwilioApiError:
    """412/20412: the If-Match ETag does not match the resource's current version."""
    return TwilioApiError(
        412,
        20412,
        "Precondition Failed: the provided If-Match does not match the current ETag",
    )


def fault_error(status: int, code: int | None = None) -> TwilioApiError:
    """An injected failure (rate limit, outage, or any error a test names by its Twilio `code`)
    with Twilio's code for that status unless one is given."""
    messages = {
        429: "Too Many Requests",
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
        504: "Gateway Timeout",
    }
    if code is None:
        code = 20000 + status if 400 <= status < 600 else 20500
    return TwilioApiError(status, code, messages.get(status, "Simulated failure"))


def internal_error() -> TwilioApiError:
    """500 for a genuine simulator bug (the catch-all)."""
    return TwilioApiError(500, 20500, "Internal Server Error")
