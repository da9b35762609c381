"""Flex agent tokens for the simulator, and the answers of Twilio IAM's token validation.

Real Flex tokens are JWE only Twilio can decrypt; services validate them by POSTing to
`iam.twilio.com/v1/Accounts/{AC}/Tokens/validate`. The simulator's tokens are shaped like
Twilio Access Tokens (twilio.com/docs/iam/access-tokens): a JWT whose header is
`{"alg": "HS256", "typ": "JWT", "cty": "twilio-fpa;v=1"}` and whose claims carry `jti`, `iss`
(an API key SID), `sub` (the account SID), `iat`, `exp`, and `grants` (`identity`, a
`task_router` grant naming the workspace and worker), plus the simulator's own `roles` (Flex's
role names). So a service can read what a real token shows (shape, account, expiry) and must
still ask IAM whether it is valid: the signature is an HMAC-SHA256 with a random secret per
world, so a token from another simulator run (or a forged one) never validates. `iat` and
`exp` are the world's simulated clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
import weakref
from typing import Any

from flexsim import defaults
from flexsim.world import World

TOKEN_HEADER = {"alg": "HS256", "typ": "JWT", "cty": "twilio-fpa;v=1"}

# IAM's codes for tokens that do not validate (the names Twilio gives them).
INVALID_TOKEN = (20101, "Invalid Access Token")
WRONG_ISSUER = (20103, "Invalid Access Token issuer/subject")
EXPIRED_TOKEN = (20104, "Access Token expired or expiration date invalid")

_secrets: weakref.WeakKeyDictionary[World, bytes] = weakref.WeakKeyDictionary()
_secrets_lock = threading.Lock()


class UnknownWorker(LookupError):
    """A token was asked for a worker the world does not have."""


def _secret(world: World) -> bytes:
    with _secrets_lock:
        secret = _secrets.get(world)
        if secret is None:
            secret = secrets.token_bytes(32)
            _secrets[world] = secret
        return secret


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def identity_of(attributes: dict[str, Any], fallback: str) -> str:
    """The Flex identity of a worker: its `contact_uri` without `client:`, else its name."""
    contact = attributes.get("contact_uri")
    if isinstance(contact, str) and contact:
        return contact.removeprefix("client:")
    return fallback


def issue_token(
    world: World, worker_sid: str, ttl_s: float, roles: list[str] | tuple[str, ...]
) -> str:
    """Issue a Flex token (a JWT) for a worker, valid for `ttl_s` simulated seconds."""
    with world.lock:
        worker = world.workers.get(worker_sid)
        if worker is None:
            raise UnknownWorker(worker_sid)
        issued = world.clock.now()
        claims = {
            "jti": f"{defaults.API_KEY_SID}-{secrets.token_hex(8)}",
            "iss": defaults.API_KEY_SID,
            "sub": world.account_sid,
            "iat": int(issued),
            "exp": issued + float(ttl_s),
            "grants": {
                "identity": identity_of(worker.attributes, worker.friendly_name),
                "task_router": {
                    "workspace_sid": world.workspace_sid,
                    "worker_sid": worker.sid,
                    "role": "worker",
                },
            },
            "roles": list(roles),
        }
    signed = f"{_b64(_json(TOKEN_HEADER))}.{_b64(_json(claims))}"
    signature = _b64(hmac.new(_secret(world), signed.encode(), hashlib.sha256).digest())
    return f"{signed}.{signature}"


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _invalid(code_message: tuple[int, str]) -> dict[str, Any]:
    code, message = code_message
    return {
        "valid": False,
        "code": code,
        "message": message,
        "expiration": None,
        "realm_user_id": None,
        "identity": None,
        "roles": None,
        "worker_sid": None,
        "account_sid": None,
    }


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _claims(world: World, token: object) -> dict[str, Any] | None:
    """The verified claims of a token, or None when it is malformed or forged."""
    if not isinstance(token, str):
        return None
    parts = token.split(".")
    if len(parts) != 3:
        return None
    signed = f"{parts[0]}.{parts[1]}"
    expected = _b64(hmac.new(_secret(world), signed.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, parts[2]):
        return None
    try:
        header = json.loads(_unb64(parts[0]))
        claims = json.loads(_unb64(parts[1]))
    except (ValueError, binascii.Error):
        return None
    if header != TOKEN_HEADER or not isinstance(claims, dict):
        return None
    return claims


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def validate_token(world: World, token: object) -> dict[str, Any]:
    """Answer as IAM's Tokens/validate does: `valid`, `code`, `message`, and the agent's claims."""
    claims = _claims(world, token)
    if claims is None:
        return _invalid(INVALID_TOKEN)
    if claims.get("sub") != world.account_sid:
        return _invalid(WRONG_ISSUER)
    expiry = float(claims.get("exp", 0))
    if world.clock.now() >= expiry:
        return _invalid(EXPIRED_TOKEN)
    grants = _object(claims.get("grants"))
    router = _object(grants.get("task_router"))
    worker_sid = str(router.get("worker_sid", ""))
    return {
        "valid": True,
        "code": 0,
        "message": None,
        "expiration": _iso(expiry),
        # Flex users are SDK identities ("US" SIDs); derive a stable one from the worker.
        "realm_user_id": "US" + worker_sid[2:] if len(worker_sid) == 34 else None,
        "identity": grants.get("identity"),
        "roles": list(claims.get("roles", [])),
        "worker_sid": worker_sid or None,
        "account_sid": world.account_sid,
    }
