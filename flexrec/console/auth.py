"""Who is signed in to the console: principals, signed session cookies and CSRF tokens.

A session is a row on the server (flexrec.accounts.sessions) named by a random key; the cookie
holds that key signed with `FLEXREC_CONSOLE_SECRET` (itsdangerous, timestamped so it expires),
so signing out or disabling an account ends the session at once. State-changing requests must
echo the session's CSRF token in the `X-CSRF-Token` header, which a cross-site page cannot read.
The password form, posted before any session exists, carries a login CSRF token that must match
the `flexrec_login_csrf` cookie the sign-in page set (a double-submit cookie), so no other site
can sign a browser into its account.
"""

from __future__ import annotations

import hmac

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from flexrec.accounts.principal import Principal

SESSION_COOKIE = "flexrec_console"
CSRF_HEADER = "X-CSRF-Token"
LOGIN_CSRF_COOKIE = "flexrec_login_csrf"
LOGIN_CSRF_FIELD = "csrf_token"
DEFAULT_SESSION_MAX_AGE_S = 2 * 3600


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

    The key only names a server-side session (flexrec.accounts.sessions); the signature lets a
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
