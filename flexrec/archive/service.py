"""`ArchiveService`: the archive job and everything built on archived media, behind one facade.

The work is done in rooms of their own, sharing one `ArchiveDeps`:
- `job` (flexrec.archive.job): copy a finished recording in, crash-safe and idempotent;
- `reader` (flexrec.archive.reader): the archived WAV, whole or by range, decrypted;
- `analyses` (flexrec.archive.analyses): conversation analysis and waveform peaks;
- `holds` (flexrec.archive.holds): retention, legal holds, the audit log;
- `access` (flexrec.archive.access): who may hear a recording, and the Insights link.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from flexrec.archive.access import Access
from flexrec.archive.analyses import Analyses
from flexrec.archive.analysis_rows import analysis_labels
from flexrec.archive.cache import BytesLru
from flexrec.archive.crypto import ArchiveKey, load_archive_key
from flexrec.archive.deps import DEFAULT_MAX_ATTEMPTS, ArchiveDeps, as_utc, utcnow
from flexrec.archive.errors import (
    ArchiveError,
    ArchiveFailedError,
    ArchiveRetryableError,
    RecordingNotArchived,
)
from flexrec.archive.holds import Holds
from flexrec.archive.job import ArchiveJob
from flexrec.archive.models import ArchivedRecording, RecordingAnalysis
from flexrec.archive.reader import MediaReader
from flexrec.archive.redaction import Redactor
from flexrec.archive.retention import RetentionPolicy, load_retention_policy
from flexrec.archive.rows import ContextProvider, RecordingContext, apply_context, row_paused
from flexrec.archive.storage import BlobStore, open_storage
from flexrec.archive.worm import require_worm
from flexrec.config import Settings
from flexrec.twilio.gateway import as_archive_gateway

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "ArchiveError",
    "ArchiveFailedError",
    "ArchiveRetryableError",
    "ArchiveService",
    "BytesLru",
    "ContextProvider",
    "RecordingContext",
    "RecordingNotArchived",
    "analysis_labels",
    "apply_context",
    "as_utc",
    "row_paused",
    "utcnow",
]

_V = TypeVar("_V")


class _Shared(Generic[_V]):
    """An attribute of the facade that lives in the shared `ArchiveDeps` (read and write)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, service: ArchiveService, owner: type | None = None) -> _V:
        value: _V = getattr(service.deps, self.name)
        return value

    def __set__(self, service: ArchiveService, value: _V) -> None:
        setattr(service.deps, self.name, value)


class ArchiveService:
    """Copies finished recordings into the archive and serves what was archived."""

    sessions: _Shared[sessionmaker[Session]] = _Shared()
    store: _Shared[BlobStore] = _Shared()
    twilio: _Shared[Any] = _Shared()
    key: _Shared[ArchiveKey | None] = _Shared()
    delete_from_twilio: _Shared[bool] = _Shared()
    retention: _Shared[RetentionPolicy] = _Shared()
    context_provider: _Shared[ContextProvider | None] = _Shared()
    clock: _Shared[Callable[[], datetime]] = _Shared()
    max_attempts: _Shared[int] = _Shared()
    on_archived: _Shared[list[Callable[[str], None]]] = _Shared()
    redactor: _Shared[Redactor | None] = _Shared()

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: BlobStore,
        twilio_client: Any,
        *,
        key: ArchiveKey | None = None,
        delete_from_twilio: bool = False,
        retention: RetentionPolicy | None = None,
        context_provider: ContextProvider | None = None,
        clock: Callable[[], datetime] = utcnow,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        plain_cache_bytes: int = 256 * 1024 * 1024,
        redactor: Redactor | None = None,
    ) -> None:
        self.deps = ArchiveDeps(
            sessions=sessions,
            store=store,
            twilio=as_archive_gateway(twilio_client),
            key=key,
            delete_from_twilio=delete_from_twilio,
            retention=retention or RetentionPolicy(),
            context_provider=context_provider,
            clock=clock,
            max_attempts=max_attempts,
            plain_cache=BytesLru(plain_cache_bytes),
            redactor=redactor,
        )
        self.job = ArchiveJob(self.deps)
        self.reader = MediaReader(self.deps)
        self.analyses = Analyses(self.deps, self.reader)
        self.holds = Holds(self.deps)
        self.access = Access(self.deps)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        sessions: sessionmaker[Session],
        twilio_client: Any,
        **kwargs: Any,
    ) -> ArchiveService:
        """Build the service from `flexrec.config.Settings` (store, key, policy)."""
        storage = settings.storage
        store = open_storage(storage.resolved_archive_url(), storage.s3_endpoint_url)
        key = load_archive_key(storage.archive_key.get_secret_value())
        retention = load_retention_policy(settings.policy.policy_file)
        if retention.wants_worm:
            require_worm(store, "the retention policy asks for WORM (a lock or worm = true)")
        return cls(
            sessions,
            store,
            twilio_client,
            key=key,
            delete_from_twilio=storage.delete_from_twilio,
            retention=retention,
            **kwargs,
        )

    def close(self) -> None:
        """Nothing to release: media comes through the gateway's pooled transport."""

    # -- the archive job ----------------------------------------------------------------------
    def note_completed(
        self,
        recording_sid: str,
        call_sid: str | None = None,
        media_url: str | None = None,
        channels: int | None = None,
        *,
        duration_s: int | None = None,
        started_at: datetime | None = None,
    ) -> ArchivedRecording:
        """Record what the completion callback told us (fast, no I/O but the database)."""
        return self.job.note_completed(
            recording_sid, call_sid, media_url, channels,
            duration_s=duration_s, started_at=started_at,
        )  # fmt: skip

    def archive_recording(
        self, recording_sid: str, *, retry_failed: bool = False
    ) -> ArchivedRecording:
        """Download, verify, store, read back, then (if configured) delete from Twilio."""
        return self.job.archive_recording(recording_sid, retry_failed=retry_failed)

    def unfinished(self, stale_after: timedelta = timedelta(minutes=10)) -> list[str]:
        """Recordings whose archive job stopped before finishing and has not moved for a while."""
        return self.job.unfinished(stale_after)

    def get(self, recording_sid: str) -> ArchivedRecording | None:
        """The archive row of a recording, if any."""
        return self.deps.get(recording_sid)

    # -- reading media ------------------------------------------------------------------------
    def read_media(self, recording_sid: str) -> bytes:
        """The archived WAV (decrypted); raises `RecordingNotArchived`."""
        return self.reader.read_media(recording_sid)

    def media_size(self, recording_sid: str) -> int:
        """Size in bytes of the (decrypted) WAV, without reading it."""
        return self.reader.media_size(recording_sid)

    def read_media_range(self, recording_sid: str, start: int, end: int) -> bytes:
        """Bytes `start..end` (inclusive) of the decrypted WAV."""
        return self.reader.read_media_range(recording_sid, start, end)

    # -- analysis and waveform ----------------------------------------------------------------
    def analyse(self, recording_sid: str) -> RecordingAnalysis:
        """Run conversation analysis on the archived media and store it (idempotent)."""
        return self.analyses.analyse(recording_sid)

    def waveform(self, recording_sid: str) -> bytes:
        """The console's waveform (`flexrec.archive.waveform`), computed once and kept."""
        return self.analyses.waveform(recording_sid)

    def unanalysed(self, limit: int = 100) -> list[str]:
        """Archived recordings never analysed (oldest first); failed analyses are not retried."""
        return self.analyses.unanalysed(limit)

    # -- retention, holds, audit --------------------------------------------------------------
    def apply_retention(self, now: datetime | None = None) -> list[str]:
        """Purge expired media not on legal hold; returns the purged recording SIDs."""
        return self.holds.apply_retention(now)

    def set_legal_hold(
        self, recording_sid: str, hold: bool, actor: str, reason: str = ""
    ) -> ArchivedRecording:
        """Put a recording under legal hold (or release it); audited (flexrec.archive.holds)."""
        return self.holds.set_legal_hold(recording_sid, hold, actor, reason)

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
        self.holds.audit(action, actor, recording_sid, ip=ip, worker_sid=worker_sid, detail=detail)

    # -- access and Insights ------------------------------------------------------------------
    def attribute_entry(self, recording_sid: str, public_url: str) -> dict[str, Any]:
        """The task's `conversations.media` VoiceRecording entry pointing at the archive."""
        return self.access.attribute_entry(recording_sid, public_url)

    def may_access(self, recording_sid: str, worker_sid: str | None, roles: Sequence[str]) -> bool:
        """Whether this caller may hear the recording (flexrec.archive.visibility's rule)."""
        return self.access.may_access(recording_sid, worker_sid, roles)
