"""What every part of the archive shares: storage, key, the Twilio gateway, policy, clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flexrec.archive.cache import BytesLru
from flexrec.archive.crypto import ArchiveKey
from flexrec.archive.models import ArchivedRecording
from flexrec.archive.redaction import Redactor
from flexrec.archive.retention import RetentionPolicy
from flexrec.archive.rows import ContextProvider
from flexrec.archive.storage import BlobStore
from flexrec.twilio.gateway import ArchiveGateway

DEFAULT_MAX_ATTEMPTS = 8


def utcnow() -> datetime:
    """The current time in UTC (the service's clock)."""
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """Treat naive datetimes (SQLite drops the offset) as UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class ArchiveDeps:
    """Dependencies and tunables of the archive (one object, shared by all its parts, so a
    change made through the facade is seen by every part)."""

    sessions: sessionmaker[Session]
    store: BlobStore
    # Every Twilio call (fetch, media, delete) goes through the one gateway, so a failure of
    # any kind (HTTP, urllib3, OS, timeout) arrives as a GatewayError and is retried.
    twilio: ArchiveGateway
    key: ArchiveKey | None = None
    delete_from_twilio: bool = False
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    context_provider: ContextProvider | None = None
    clock: Callable[[], datetime] = utcnow
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    plain_cache: BytesLru = field(default_factory=lambda: BytesLru(256 * 1024 * 1024))
    # Called with the recording SID once its media is verified in the archive; the wiring
    # points these at the analysis job and at the task's media entry.
    on_archived: list[Callable[[str], None]] = field(default_factory=list)
    # The redaction stage run on the downloaded audio before it is sealed (None: none).
    redactor: Redactor | None = None
    # The recording's transcript as it is sealed beside its audio (None: nothing transcribes).
    transcripts: Callable[[str], dict[str, Any] | None] | None = None

    def find(self, session: Session, recording_sid: str) -> ArchivedRecording | None:
        """The archive row of a recording in `session`, if any."""
        return session.scalars(
            select(ArchivedRecording).where(ArchivedRecording.recording_sid == recording_sid)
        ).one_or_none()

    def get(self, recording_sid: str) -> ArchivedRecording | None:
        """The archive row of a recording, if any (a session of its own)."""
        with self.sessions() as session:
            return self.find(session, recording_sid)
