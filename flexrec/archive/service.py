"""`ArchiveService`: the archive's rooms, built once from the settings around one `ArchiveDeps`.

It forwards nothing: callers use the room that does the work (`archive.job.archive_recording`,
`archive.reader.read_media_range`, `archive.holds.set_legal_hold`...), so a new archive job is
the room's method plus its line in `flexrec.archive.jobs`. The rooms:
- `job` (flexrec.archive.job): copy a finished recording in, crash-safe and idempotent;
- `reader` (flexrec.archive.reader): the archived WAV, whole or by range, decrypted;
- `analyses` (flexrec.archive.analyses): conversation analysis and waveform peaks;
- `holds` (flexrec.archive.holds): retention, legal holds, the audit log;
- `access` (flexrec.archive.access): who may hear a recording, and the Insights link.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
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
from flexrec.archive.models import ArchivedRecording
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
    """The archive's rooms over one shared `ArchiveDeps` (store, key, policy, database)."""

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

    def get(self, recording_sid: str) -> ArchivedRecording | None:
        """The archive row of a recording, if any."""
        return self.deps.get(recording_sid)
