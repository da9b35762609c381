"""Managing console accounts after creation: list, disable, enable, remove, change role, reset
password. Each change is audited (`user_*` actions) with who made it.

Sessions of a disabled, removed or demoted account end on their next request (the server-side
session check reads the account each time, flexrec.accounts.sessions); a password reset ends
the account's sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flexrec.accounts.sessions import end_user_sessions
from flexrec.accounts.users import (
    _WORKER_SID,
    MIN_PASSWORD_LENGTH,
    ROLES,
    ConsoleUser,
    UserError,
    get_user,
    hash_password,
)
from flexrec.archive.audit_chain import AuditLog

USER_ACTIONS = (
    "user_created",
    "user_disabled",
    "user_enabled",
    "user_removed",
    "user_role_changed",
    "user_password_reset",
)


class NoSuchUser(UserError):
    """No account has that user name."""


@dataclass(frozen=True)
class AccountView:
    """An account as shown to an administrator (never the password hash)."""

    username: str
    role: str
    worker_sid: str | None
    disabled: bool
    created_at: datetime

    def public(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "username": self.username,
            "role": self.role,
            "worker_sid": self.worker_sid,
            "disabled": self.disabled,
            "created_at": self.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        }


def view(user: ConsoleUser) -> AccountView:
    """The administrator's view of one account."""
    created = user.created_at if user.created_at.tzinfo else user.created_at.replace(tzinfo=UTC)
    return AccountView(user.username, user.role, user.worker_sid, bool(user.disabled), created)


def list_accounts(session: Session) -> list[AccountView]:
    """Every account, by user name."""
    return [view(u) for u in session.scalars(select(ConsoleUser).order_by(ConsoleUser.username))]


def _existing(session: Session, username: str) -> ConsoleUser:
    user = get_user(session, username)
    if user is None:
        raise NoSuchUser(f"no console account is named {username!r} (see `flexrec users list`)")
    return user


def audit_account(session: Session, action: str, actor: str, username: str, **detail: Any) -> None:
    """Append the audit entry of an account change (flushed with it; the caller commits)."""
    session.add(
        AuditLog(
            at=datetime.now(UTC),
            actor=actor,
            action=action,
            recording_sid=None,
            detail={"user": username, **detail},
        )
    )


def set_disabled(session: Session, username: str, disabled: bool, actor: str) -> AccountView:
    """Disable (no sign-in, sessions end) or enable an account."""
    user = _existing(session, username)
    user.disabled = disabled
    audit_account(session, "user_disabled" if disabled else "user_enabled", actor, username)
    session.flush()
    return view(user)


def remove_account(session: Session, username: str, actor: str) -> None:
    """Delete an account; its audit history stays (entries name users, not rows)."""
    user = _existing(session, username)
    session.delete(user)
    audit_account(session, "user_removed", actor, username, role=user.role)
    session.flush()


def change_role(
    session: Session, username: str, role: str, actor: str, worker_sid: str | None = None
) -> AccountView:
    """Give an account another role (an agent needs its worker SID)."""
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    user = _existing(session, username)
    if worker_sid is not None:
        if not _WORKER_SID.match(worker_sid):
            raise UserError("worker_sid must look like WK followed by 32 hex digits")
        user.worker_sid = worker_sid
    if role == "agent" and not user.worker_sid:
        raise UserError("agents need their TaskRouter worker SID (give --worker-sid or --worker)")
    before = user.role
    user.role = role
    audit_account(
        session, "user_role_changed", actor, username, before=before, after=role,
        worker_sid=user.worker_sid,
    )  # fmt: skip
    session.flush()
    return view(user)


def reset_password(session: Session, username: str, password: str, actor: str) -> AccountView:
    """Set a new password (audited; the password itself is never logged)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"passwords need at least {MIN_PASSWORD_LENGTH} characters")
    user = _existing(session, username)
    user.password_hash = hash_password(password)
    # Whoever signed in with the old password (perhaps the reason for the reset) is signed out.
    end_user_sessions(session, user.id, datetime.now(UTC))
    audit_account(session, "user_password_reset", actor, username)
    session.flush()
    return view(user)
