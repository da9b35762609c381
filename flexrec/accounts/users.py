"""Local console accounts: the `users` table, scrypt password hashing, creation and sign-in.

Roles: `agent` (sees only calls it took; needs its TaskRouter worker SID), `supervisor` and
`admin` (see every recording). Flex-token sign-ins never create rows here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime
from functools import cache

from sqlalchemy import Boolean, DateTime, Integer, String, false, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from flexrec.db.base import Base

ROLES = ("agent", "supervisor", "admin")
"""Every value `ConsoleUser.role` may hold."""

# scrypt cost: 16 MiB of memory per hash (128 * r * n bytes), a few tens of ms on a laptop.
_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_SALT_BYTES = 16
_KEY_BYTES = 32
_USERNAME = re.compile(r"^[A-Za-z0-9._@+-]{1,120}$")
_WORKER_SID = re.compile(r"^WK[0-9a-f]{32}$")
MIN_PASSWORD_LENGTH = 8


class ConsoleUser(Base):
    """A person who signs in to the console with a user name and password."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(120), unique=True, index=True)
    # "scrypt$n$r$p$salt$hash" (base64 parts): the parameters travel with each hash.
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    worker_sid: Mapped[str | None] = mapped_column(String(34), default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # A disabled account cannot sign in; its rows stay for the audit log's sake.
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class UserError(ValueError):
    """A user could not be created as asked (bad name, role, password or duplicate)."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """Hash a password with scrypt and a fresh random salt, parameters included."""
    salt = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
    key = hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=_SCRYPT_N,
        r=_SCRYPT_R,
        p=_SCRYPT_P,
        maxmem=64 * 1024 * 1024,
        dklen=_KEY_BYTES,
    )
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches the stored scrypt hash (constant-time comparison)."""
    try:
        scheme, n, r, p, salt_b64, key_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt = base64.b64decode(salt_b64)
        expected = base64.b64decode(key_b64)
        key = hashlib.scrypt(
            password.encode("utf-8"),
            salt=salt,
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=64 * 1024 * 1024,
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(key, expected)


@cache
def _dummy_hash() -> str:
    """Checked against when the user name is unknown, so both paths cost one scrypt; made on
    the first such sign-in, not at import (a scrypt is part of every start-up's outage)."""
    return hash_password("flexrec-no-such-user", salt=b"\0" * _SALT_BYTES)


def create_user(
    session: Session,
    username: str,
    password: str,
    role: str,
    worker_sid: str | None = None,
) -> ConsoleUser:
    """Add a console account (flushed, not committed); raises `UserError` on bad input."""
    if not _USERNAME.match(username):
        raise UserError("user names are 1-120 letters, digits or . _ @ + -")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"passwords need at least {MIN_PASSWORD_LENGTH} characters")
    if worker_sid is not None and not _WORKER_SID.match(worker_sid):
        raise UserError("worker_sid must look like WK followed by 32 hex digits")
    if role == "agent" and worker_sid is None:
        # An agent's visibility is defined by its worker SID; without one it would see nothing.
        raise UserError("agents need their TaskRouter worker SID")
    if get_user(session, username) is not None:
        raise UserError(f"user {username!r} already exists")
    user = ConsoleUser(
        username=username,
        password_hash=hash_password(password),
        role=role,
        worker_sid=worker_sid,
        created_at=datetime.now(UTC),
    )
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, username: str) -> ConsoleUser | None:
    """The account with this user name, if any."""
    return session.scalars(select(ConsoleUser).where(ConsoleUser.username == username)).first()


def authenticate_user(session: Session, username: str, password: str) -> ConsoleUser | None:
    """The account when the password is right, else None (same cost either way)."""
    user = get_user(session, username)
    if user is None or user.disabled:
        verify_password(password, _dummy_hash())
        return None
    return user if verify_password(password, user.password_hash) else None
