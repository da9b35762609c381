"""What a Flex token shows without asking Twilio: its JOSE shape and any claims it carries.

Flex user tokens are JWEs (compact serialisation: five base64url parts; only the protected
header, JSON naming `alg` and `enc`, is readable); Twilio Access Tokens, and the simulator's
Flex tokens, are JWTs (three parts: a JSON header naming `alg`, JSON claims with the account in
`sub` and the expiry in `exp`, a signature). Only Twilio can say whether either is valid
(IAM's Tokens/validate), but a token of neither shape, one whose claims name another account,
or one already expired is certainly not a valid Flex token for this account: the token guard
refuses it without spending a Twilio call on it.

Claims are read wherever the token shows them: a JWT's payload, or a JWE header that repeats
them (RFC 7519 section 5.3). A JWT must name the account and an expiry; a JWE's encrypted
claims are Twilio's to check.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

JWT_PARTS = 3
JWE_PARTS = 5
# Clocks differ: a token is taken for expired only this long after its `exp`.
EXPIRY_LEEWAY_S = 60.0
_ACCOUNT_CLAIMS = ("sub", "account_sid", "acc")


class MalformedToken(ValueError):
    """The token cannot be a valid Flex token for this account; says why (no token text)."""


def _json_part(part: str, what: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError):
        raise MalformedToken(f"its {what} is not base64url JSON") from None
    if not isinstance(value, dict):
        raise MalformedToken(f"its {what} is not a JSON object")
    return value


def _check_claims(claims: dict[str, Any], account_sid: str, now: float) -> None:
    for name in _ACCOUNT_CLAIMS:
        value = claims.get(name)
        if isinstance(value, str) and value.startswith("AC") and value != account_sid:
            raise MalformedToken("it was issued for another Twilio account")
    expiry = claims.get("exp")
    if expiry is None:
        return
    if isinstance(expiry, bool) or not isinstance(expiry, int | float) or not math.isfinite(expiry):
        raise MalformedToken("its expiry is not a number")
    if expiry + EXPIRY_LEEWAY_S <= now:
        raise MalformedToken("it has expired")


def check_token_shape(token: str, account_sid: str, now: float) -> None:
    """Raise `MalformedToken` unless `token` could be a valid Flex token of `account_sid`
    at `now` (epoch seconds): a JWE, or a JWT naming the account and an expiry."""
    parts = token.split(".")
    if len(parts) not in (JWT_PARTS, JWE_PARTS) or not parts[0] or not parts[-2]:
        raise MalformedToken("it is neither a JWT nor a JWE")
    header = _json_part(parts[0], "header")
    if not isinstance(header.get("alg"), str):
        raise MalformedToken("its header names no algorithm")
    if len(parts) == JWE_PARTS:
        if not isinstance(header.get("enc"), str):
            raise MalformedToken("its JWE header names no encryption")
        _check_claims(header, account_sid, now)
        return
    claims = _json_part(parts[1], "claims")
    if not any(claims.get(name) == account_sid for name in _ACCOUNT_CLAIMS):
        raise MalformedToken("it names no account, or another one")
    if "exp" not in claims:
        raise MalformedToken("it has no expiry")
    _check_claims(claims, account_sid, now)
