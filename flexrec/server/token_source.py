"""Where a request carries a Flex token: `Authorization: Bearer` or a `Token` body field.

Shared by the agent/admin APIs and the archive's Insights URL route so that both read tokens the
same way and refuse the same bad bodies (`{"error", "message"}` 400 / 413). Validation of the
token itself is the caller's business.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException, Request

from flexrec.web.body_limit import MAX_OTHER_BODY_BYTES

# A body only ever carries a token here; anything large is refused before it is read (the
# app's BodyLimitMiddleware also counts chunked bodies as they arrive).
MAX_BODY_BYTES = MAX_OTHER_BODY_BYTES
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def _refuse(status: int, error: str, message: str) -> HTTPException:
    return HTTPException(status, detail={"error": error, "message": message})


def _non_empty(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


async def body_token(request: Request) -> str | None:
    """The `Token` field of a POST/PUT/PATCH form or JSON body, or None (400/413 if unreadable)."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return None
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _refuse(413, "body_too_large", f"token bodies are limited to {MAX_BODY_BYTES} bytes")
    if content_type == "application/json":
        raw = await request.body()
        if not raw:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            raise _refuse(400, "malformed_body", "the body is not JSON") from None
        return _non_empty(data.get("Token")) if isinstance(data, dict) else None
    if content_type in _FORM_TYPES:
        form = await request.form()
        return _non_empty(form.get("Token"))
    return None
