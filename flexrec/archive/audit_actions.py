"""Every action name the audit log holds, and what it means: the one list.

The names are written by several parts (the archive, retention, sealing, custody, the console,
account changes); each keeps its own constant, and tests/unit/archive/test_audit_actions.py
holds them and every `action=` written in the code to this list, and the README's table to it.
A filter naming an action outside it (and outside what the log already holds) is refused with
these names, rather than silently matching nothing.
"""

from __future__ import annotations

AUDIT_ACTION_MEANINGS: dict[str, str] = {
    # media
    "url_issued": "a signed media link was issued (console play or download, Flex Insights"
    " url_provider); `detail.purpose`, `detail.via`",
    "play": "a signed link was first used to play the media (one row per playback)",
    "download": "a signed link was first used to download the media",
    "view_refused": "a signed-in user asked for a recording they may not hear (console,"
    " Insights url_provider)",
    # legal holds and retention
    "legal_hold_set": "a recording was put on legal hold (`detail.reason`)",
    "legal_hold_cleared": "a legal hold was released (`detail.reason`, and the hold that"
    " was in force)",
    "purge": "retention deleted the media (the row and its audit history stay)",
    "purge_refused": "the storage's own lock refused a retention delete; retried at"
    " `detail.next_attempt`",
    # the provable archive
    "sealed": "the archived media was hashed into its manifest and the audit chain",
    "exported": "a recording left in a signed export bundle (`flexrec export`, the console)",
    "erasure": "an erasure request ran (`flexrec erase`; the subject only as a digest)",
    "audit_exported": "the audit log itself was exported as CSV (console, admin API,"
    " `flexrec audit --csv`); `detail.filters`, `detail.rows`",
    # console sign-in
    "sign_in": "a console sign-in (password or Flex token)",
    "sign_in_failed": "a refused console sign-in (`detail.reason`)",
    "sign_out": "a console sign-out",
    # console accounts
    "user_created": "a console account was created (`detail.user`, `detail.role`)",
    "user_disabled": "a console account was disabled (its sessions end)",
    "user_enabled": "a console account was enabled again",
    "user_removed": "a console account was removed (its sessions end)",
    "user_role_changed": "a console account's role or worker SID changed",
    "user_password_reset": "a console account's password was reset",
}


def audit_action_names() -> tuple[str, ...]:
    """Every documented action name, sorted."""
    return tuple(sorted(AUDIT_ACTION_MEANINGS))


class UnknownAuditAction(ValueError):
    """A filter named an action the audit log never holds."""

    def __init__(self, action: str, valid: tuple[str, ...]) -> None:
        super().__init__(f"unknown action {action!r}: use one of {', '.join(valid)}")
        self.action = action
        self.valid = valid
