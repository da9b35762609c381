"""Retention, legal holds and the audit log of the archive."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flexrec.archive.deps import ArchiveDeps
from flexrec.archive.errors import RecordingNotArchived
from flexrec.archive.models import ArchivedRecording, AuditLog
from flexrec.archive.retention import apply_retention as purge_expired


class Holds:
    """Purges what retention lets go, holds what the law keeps, and audits both."""

    def __init__(self, deps: ArchiveDeps) -> None:
        self.deps = deps

    def apply_retention(self, now: datetime | None = None) -> list[str]:
        """Purge expired media not on legal hold; returns the purged recording SIDs."""
        return purge_expired(
            self.deps.sessions, self.deps.store, now or self.deps.clock(), self.deps.clock
        )

    def set_legal_hold(self, recording_sid: str, hold: bool, actor: str) -> ArchivedRecording:
        """Put a recording under legal hold (or release it); audited."""
        with self.deps.sessions() as session:
            row = self.deps.find(session, recording_sid)
            if row is None:
                raise RecordingNotArchived(recording_sid)
            now = self.deps.clock()
            row.legal_hold = hold
            row.updated_at = now
            session.add(
                AuditLog(
                    at=now,
                    actor=actor,
                    action="legal_hold_set" if hold else "legal_hold_cleared",
                    recording_sid=recording_sid,
                    detail={},
                )
            )
            session.commit()
            return row

    def audit(
        self,
        action: str,
        actor: str,
        recording_sid: str | None,
        *,
        ip: str | None = None,
        worker_sid: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Append one entry to the audit log."""
        with self.deps.sessions() as session:
            session.add(
                AuditLog(
                    at=self.deps.clock(),
                    actor=actor,
                    actor_worker_sid=worker_sid,
                    action=action,
                    recording_sid=recording_sid,
                    ip=ip,
                    detail=dict(detail or {}),
                )
            )
            session.commit()
