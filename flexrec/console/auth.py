"""Who is signed in to the console: principals, signed session cookies and CSRF tokens.

A session is a row on the server (flexrec.console.sessions) named by a random key; the cookie
holds that key signed with `FLEXREC_CONSOLE_SECRET` (itsdangerous, timestamped so it expires),
so signing out or disabling an account ends the session at once. State-changing requests must
echo the session's CSRF token in the `X-CSRF-Token` header, which a cross-site page cannot read.
The password form, posted before any session exists, carries a login CSRF token that must match
the `flexrec_login_csrf` cookie the sign-in page set (a double-submit cookie), so no other site
can sign a browser into its account.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from flexrec.archive.visibility import sees_everything
from flexrec.console.users import ConsoleUser
from flexrec.twilio.flex_tokens import TokenInfo

SESSION_COOKIE = "flexrec_console"
CSRF_HEADER = "X-CSRF-Token"
LOGIN_CSRF_COOKIE = "flexrec_login_csrf"
LOGIN_CSRF_FIELD = "csrf_token"
DEFAULT_SESSION_MAX_AGE_S = 2 * 3600


@dataclass(frozen=True)
class Principal:
    """A signed-in console user: local account or Flex token holder."""

    username: str
    role: str  # agent | supervisor | admin
    worker_sid: str | None
    csrf_token: str
    via: str  # "password" | "flex"

    @property
    def sees_everything(self) -> bool:
        """Supervisors and admins see every recording; agents only their own calls."""
        return sees_everything((self.role,))

    def public(self) -> dict[str, Any]:
        """What the browser may know about the user (no CSRF token, nothing secret)."""
        return {
            "username": self.username,
            "role": self.role,
            "worker_sid": self.worker_sid,
            "via": self.via,
        }


def new_csrf_token() -> str:
    """A fresh random CSRF token for a new session."""
    return secrets.token_urlsafe(24)


def principal_from_user(user: ConsoleUser) -> Principal:
    """The principal of a local account that just signed in."""
    return Principal(user.username, user.role, user.worker_sid, new_csrf_token(), "password")


def role_from_flex_roles(roles: tuple[str, ...]) -> str:
    """Console role from Flex token roles: admin beats supervisor beats agent."""
    if "admin" in roles:
        return "admin"
    if "supervisor" in roles:
        return "supervisor"
    return "agent"


def principal_from_token(info: TokenInfo) -> Principal:
    """The principal of a validated Flex token."""
    name = info.identity or info.worker_sid or "flex-user"
    return Principal(
        name, role_from_flex_roles(info.roles), info.worker_sid, new_csrf_token(), "flex"
    )


def tokens_match(expected: str | None, presented: str | None) -> bool:
    """True when both tokens are present and equal (compared in constant time)."""
    if not expected or not presented:
        return False
    return hmac.compare_digest(
        expected.encode("utf-8", "replace"), presented.encode("utf-8", "replace")
    )


def csrf_matches(principal: Principal, presented: str | None) -> bool:
    """True when the presented token is this session's CSRF token."""
    return tokens_match(principal.csrf_token, presented)


class SessionCodec:
    """Signs session keys into cookie values and reads them back, refusing stale or forged ones.

    The key only names a server-side session (flexrec.console.sessions); the signature lets a
    forged or expired cookie be refused without a database read.
    """

    def __init__(self, secret: str, max_age_s: int = DEFAULT_SESSION_MAX_AGE_S) -> None:
        if len(secret) < 16:
            raise ValueError("the console secret must be at least 16 characters long")
        self._serializer = URLSafeTimedSerializer(secret, salt="flexrec.console.session.v2")
        self.max_age_s = max_age_s

    def dumps(self, key: str) -> str:
        """The cookie value for a session key."""
        return self._serializer.dumps({"s": key})

    def loads(self, value: str | None) -> str | None:
        """The session key in a cookie value, or None when missing, expired or tampered with."""
        if not value:
            return None
        try:
            data = self._serializer.loads(value, max_age=self.max_age_s)
        except (SignatureExpired, BadSignature):
            return None
        key = data.get("s") if isinstance(data, dict) else None
        return key if isinstance(key, str) and key else None
