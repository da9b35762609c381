"""Audit rows for media access from the console (who played or downloaded which recording)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from flexrec.archive.models import AuditLog
from flexrec.console.auth import Principal

CONSOLE_MEDIA_ACTIONS = ("play", "download")


def record_media_access(
    session: Session,
    principal: Principal,
    recording_sid: str,
    action: str,
    *,
    ip: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditLog:
    """Append one audit row (flushed; the caller commits with the work it belongs to)."""
    if action not in CONSOLE_MEDIA_ACTIONS:
        raise ValueError(f"unknown console media action {action!r}")
    row = AuditLog(
        at=datetime.now(UTC),
        actor=principal.username,
        actor_worker_sid=principal.worker_sid,
        action=action,
        recording_sid=recording_sid,
        ip=ip,
        detail={"via": "console", "signed_in_with": principal.via, **(detail or {})},
    )
    session.add(row)
    session.flush()
    return row
