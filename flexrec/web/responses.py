"""The status codes each route answers, for its OpenAPI `responses=`: one table of meanings.

A route lists every code it can answer (`responses=documented(401, 403, ...)`); the fuzz test
(tests/integration/server/test_fuzz_service.py) fails when an answer is not listed. Error
bodies share one shape: `{"error": <code word>, "message": <text>}`.
"""

from __future__ import annotations

from typing import Any

_MEANINGS = {
    206: "Partial content (one byte range)",
    303: "Redirect after a form post",
    304: "Not modified since the ETag given in If-None-Match",
    400: "Invalid request: a parameter, header or body field is malformed or out of range",
    401: "No or invalid credentials",
    403: "Not allowed (wrong role, another agent's call, forged signature or CSRF token)",
    404: "Not found",
    409: "Conflict with the current state",
    413: "Body larger than the route accepts",
    415: "Unsupported content type",
    416: "Range not satisfiable",
    422: "Well-formed, but holds values that cannot be stored (final: do not retry)",
    429: "Too many requests; Retry-After says when to try again",
    500: "Could not be processed now; retry (webhooks: Twilio redelivers)",
    502: "Twilio answered with an error",
    503: "A dependency (Twilio, the archive) is unavailable; retry later",
}
_ERROR_BODY: dict[str, Any] = {
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
        }
    }
}
# What any route may answer before its own code runs: the body cap and the error boundary.
COMMON = (400, 413)


def documented(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for these codes (plus the common ones), each with its meaning."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in sorted({*codes, *COMMON}):
        entry: dict[str, Any] = {"description": _MEANINGS[code]}
        if code >= 400:
            entry["content"] = _ERROR_BODY
        out[code] = entry
    return out


def validation_is_400(schema: dict[str, Any]) -> dict[str, Any]:
    """FastAPI documents request validation as 422; this service answers it 400 (app.py)."""
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            answers = operation.get("responses", {})
            if answers.get("422", {}).get("description") == "Validation Error":
                del answers["422"]
                answers.setdefault("400", {"description": _MEANINGS[400], "content": _ERROR_BODY})
    return schema


# The usual sets, by who may call.
WEBHOOK = documented(403, 415, 422, 500)  # 500: Twilio retries; 400/403/415/422 are final
ADMIN = documented(401, 403, 429, 503)  # admin token or a supervisor's Flex token
FLEX_TOKEN = documented(401, 403, 404, 429, 503)  # an agent's or supervisor's Flex token
CONSOLE = documented(401, 403)  # a console session (403: CSRF, role, another agent's call)
