"""Console sessions kept on the server, so signing out, or an account disabled, removed or given
another role, takes effect on the very next request.

The cookie holds only a random session key (signed, so a forged one costs no database read);
the `console_sessions` row, found by the key's SHA-256, holds who signed in, how, the CSRF
token and when the session ends. Every request reads the row and, for a password sign-in, the
account: a revoked or expired row, a removed or disabled account ends the session, and the
account's current role and worker SID are the ones that count.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Integer, String, delete, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from flexrec.accounts.principal import Principal
from flexrec.accounts.users import ConsoleUser
from flexrec.db.base import Base
from flexrec.db.models import UTCDateTime

_KEEP_ENDED = timedelta(days=1)  # ended rows linger a day (they say when a session ended)


class ConsoleSession(Base):
    """One signed-in browser."""

    __tablename__ = "console_sessions"

    # SHA-256 of the cookie's key: a database leak does not hand out live sessions.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(255))
    # The local account of a password sign-in; None for a Flex token sign-in.
    user_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), default=None, index=True
    )
    via: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16))
    worker_sid: Mapped[str | None] = mapped_column(String(34), default=None)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def start_session(
    session: Session, principal: Principal, user_id: int | None, now: datetime, max_age_s: int
) -> str:
    """Store a new session for `principal`; returns the key the cookie carries."""
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now - _KEEP_ENDED))
    key = secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(
            id=_digest(key),
            username=principal.username,
            user_id=user_id,
            via=principal.via,
            role=principal.role,
            worker_sid=principal.worker_sid,
            csrf_token=principal.csrf_token,
            created_at=now,
            expires_at=now + timedelta(seconds=max_age_s),
        )
    )
    session.flush()
    return key


def load_session(session: Session, key: str, now: datetime) -> Principal | None:
    """The principal of a live session, with its account's current role; else None."""
    row = session.get(ConsoleSession, _digest(key))
    if row is None or row.ended_at is not None or row.expires_at <= now:
        return None
    role, worker_sid = row.role, row.worker_sid
    if row.via == "password":
        user = session.get(ConsoleUser, row.user_id) if row.user_id is not None else None
        if user is None or user.disabled or user.username != row.username:
            return None
        role, worker_sid = user.role, user.worker_sid
    return Principal(row.username, role, worker_sid, row.csrf_token, row.via)


def end_session(session: Session, key: str, now: datetime) -> None:
    """Sign one session out (its cookie is worthless from now on)."""
    session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.id == _digest(key), ConsoleSession.ended_at.is_(None))
        .values(ended_at=now)
    )


def end_user_sessions(session: Session, user_id: int, now: datetime) -> int:
    """Sign every session of a local account out (e.g. on a password change); returns count."""
    result = session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.user_id == user_id, ConsoleSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)
