"""Audit rows for media links the console issues (who asked to play or download what).

The link's issue is `url_issued` with the purpose in `detail`; the media route writes `play` or
`download` when it actually serves the file, so each playback counts once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from flexrec.accounts.principal import Principal
from flexrec.archive.audit_chain import AuditLog

CONSOLE_MEDIA_PURPOSES = ("play", "download")


def record_media_access(
    session: Session,
    principal: Principal,
    recording_sid: str,
    purpose: str,
    *,
    ip: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditLog:
    """Append the `url_issued` row of a media link for `purpose` (flushed; the caller commits
    with the work it belongs to)."""
    if purpose not in CONSOLE_MEDIA_PURPOSES:
        raise ValueError(f"unknown console media purpose {purpose!r}")
    row = AuditLog(
        at=datetime.now(UTC),
        actor=principal.username,
        actor_worker_sid=principal.worker_sid,
        action="url_issued",
        recording_sid=recording_sid,
        ip=ip,
        detail={
            "via": "console",
            "purpose": purpose,
            "signed_in_with": principal.via,
            **(detail or {}),
        },
    )
    session.add(row)
    session.flush()
    return row
