"""X-Twilio-Signature checking for form and JSON webhooks, with the official SDK validator.

Twilio signs the exact URL it requested (query included) plus, for form posts, the sorted
parameters; JSON posts (Event Streams) carry `bodySHA256=<hex>` in the query instead and the
signature covers the URL alone. Both the body hash and the signature must match.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Mapping
from urllib.parse import parse_qs, urlsplit

from twilio.request_validator import RequestValidator

SIGNATURE_HEADER = "X-Twilio-Signature"


class _MultiParams:
    """Adapts a mapping of single or repeated values to the `getlist` shape the SDK reads."""

    def __init__(self, params: Mapping[str, str | list[str]]) -> None:
        self._params = params

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def getlist(self, name: str) -> list[str]:
        """Every value posted under `name`."""
        value = self._params[name]
        return [value] if isinstance(value, str) else list(value)

    # The SDK asks for `getall` first and falls back on AttributeError: one exception per
    # parameter per webhook, a fifth of the signature check's time.
    getall = getlist


class SignatureVerifier:
    """Checks that a webhook was signed by Twilio with the account's auth token."""

    def __init__(self, auth_token: str) -> None:
        self._validator = RequestValidator(auth_token)

    def verify(
        self,
        url: str,
        params: Mapping[str, str | list[str]] | None,
        signature: str | None,
        body: bytes | None = None,
    ) -> bool:
        """True when `signature` matches the request.

        `url` is the full public URL Twilio posted to. Pass `params` for form posts; pass `body`
        (raw bytes) for JSON posts, whose URL must then carry `bodySHA256`.
        """
        if not signature:
            return False
        if body is not None:
            # Without the hash in the URL the signature would not cover the body at all.
            declared = parse_qs(urlsplit(url).query).get("bodySHA256")
            if not declared:
                return False
            # The hash of the bytes as sent (the SDK wants text, so a signed body that is not
            # UTF-8 passed for forged: a 403 where the parser's 400 is the answer).
            if not hmac.compare_digest(hashlib.sha256(body).hexdigest(), declared[0]):
                return False
            return bool(self._validator.validate(url, {}, signature))
        multi = _MultiParams(params or {})
        # The URL exactly as received almost always is what Twilio signed: one HMAC, where the
        # SDK's validate() always computes two (with and without the port) and parses the URL.
        if hmac.compare_digest(self._validator.compute_signature(url, multi), signature):
            return True
        return bool(self._validator.validate(url, multi, signature))


def rebuild_public_url(public_url: str, path: str, query: str) -> str:
    """The URL Twilio requested, given the service's public base URL and the request's path/query.

    Behind a proxy the request's own scheme and host differ from what Twilio signed; the public
    base (which may carry a path prefix) replaces them.
    """
    url = public_url.rstrip("/") + path
    return f"{url}?{query}" if query else url
