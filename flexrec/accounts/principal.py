"""Who is signed in to the console: a local account or a Flex token holder, with their role.

The role decides what they see (flexrec.archive.visibility): supervisors and admins every
recording, agents the calls they held. A principal carries its session's CSRF token.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from flexrec.accounts.users import ConsoleUser
from flexrec.archive.visibility import sees_everything
from flexrec.twilio.flex_tokens import TokenInfo


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
