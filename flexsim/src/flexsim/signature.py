"""Twilio's webhook signature (`X-Twilio-Signature`), standard library only.

Twilio signs a callback with HMAC-SHA1 keyed by the account's auth token over the full URL it
requests followed by each POST parameter's name and value, sorted by name, then base64
(Twilio "Webhooks security"; twilio-python `RequestValidator.compute_signature`). A JSON body
is signed through its URL's `bodySHA256` query parameter, with no parameters.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str] | None) -> str:
    """X-Twilio-Signature: base64(HMAC-SHA1(token, url + each sorted param's name and value))."""
    parts = [url]
    if params:
        for name in sorted(params):
            parts.append(name)
            parts.append(params[name])
    digest = hmac.digest(auth_token.encode(), "".join(parts).encode(), "sha1")
    return base64.b64encode(digest).decode()


def json_webhook_url(url: str, body: bytes) -> str:
    """The URL Twilio posts a JSON body to: `bodySHA256=<hex sha256 of body>` appended."""
    digest = hashlib.sha256(body).hexdigest()
    return f"{url}{'&' if '?' in url else '?'}bodySHA256={digest}"
