"""Console sign-in pieces without a database: password hashing, session cookies, roles, CSRF."""

from __future__ import annotations

import pytest

from flexrec.accounts.principal import Principal, principal_from_token, role_from_flex_roles
from flexrec.accounts.users import hash_password, verify_password
from flexrec.console.auth import SessionCodec, csrf_matches
from flexrec.twilio.flex_tokens import TokenInfo

SECRET = "unit-test-console-secret-0123456789"


def test_password_hash_verifies_only_the_right_password() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$")
    assert verify_password("correct horse", stored)
    assert not verify_password("correct horse ", stored)
    assert not verify_password("", stored)


def test_each_hash_gets_its_own_salt() -> None:
    assert hash_password("same password") != hash_password("same password")


@pytest.mark.parametrize(
    "stored", ["", "plain", "md5$x$y", "scrypt$1$2$3$!!$!!", "scrypt$a$b$c$d$e"]
)
def test_malformed_hashes_never_verify(stored: str) -> None:
    assert not verify_password("anything", stored)


def _principal(role: str = "supervisor", worker: str | None = None) -> Principal:
    return Principal("sam", role, worker, "csrf-token-value", "password")


KEY = "session-key-value"


def test_session_cookie_round_trips() -> None:
    codec = SessionCodec(SECRET)
    assert codec.loads(codec.dumps(KEY)) == KEY


def test_tampered_or_foreign_cookies_are_refused() -> None:
    codec = SessionCodec(SECRET)
    value = codec.dumps(KEY)
    flipped = value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]
    assert codec.loads(flipped) is None
    assert codec.loads(SessionCodec(SECRET + "-other").dumps(KEY)) is None
    assert codec.loads("") is None
    assert codec.loads(None) is None


def test_expired_cookies_are_refused() -> None:
    value = SessionCodec(SECRET).dumps(KEY)
    assert SessionCodec(SECRET, max_age_s=-1).loads(value) is None


def test_short_secrets_are_rejected() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        SessionCodec("short")


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        ((), "agent"),
        (("agent",), "agent"),
        (("agent", "supervisor"), "supervisor"),
        (("supervisor", "admin"), "admin"),
        (("wfo.full_access",), "agent"),
    ],
)
def test_flex_roles_map_to_console_roles(roles: tuple[str, ...], expected: str) -> None:
    assert role_from_flex_roles(roles) == expected


def test_flex_principal_keeps_identity_and_worker() -> None:
    info = TokenInfo("alice@example.com", "WK" + "a" * 32, ("agent",), None)
    principal = principal_from_token(info)
    assert (principal.username, principal.role, principal.worker_sid, principal.via) == (
        "alice@example.com",
        "agent",
        "WK" + "a" * 32,
        "flex",
    )
    assert not principal.sees_everything
    assert "csrf_token" not in principal.public()


def test_csrf_token_must_match_exactly() -> None:
    principal = _principal()
    assert csrf_matches(principal, "csrf-token-value")
    assert not csrf_matches(principal, "csrf-token-valuE")
    assert not csrf_matches(principal, "")
    assert not csrf_matches(principal, None)
