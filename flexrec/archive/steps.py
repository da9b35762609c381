"""The archive job's steps: Twilio's copy in, stored, read back, deleted from Twilio.

Each step ends in one compare-and-set of the row's state (`transition`), so two workers
running the same job never write an older state back: the one that finds the state moved on
raises `Superseded` and stops. The job (`flexrec.archive.job`) runs them in order.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, cast

import structlog
from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from flexrec.archive import media
from flexrec.archive.crypto import DecryptionError
from flexrec.archive.deps import ArchiveDeps, as_utc
from flexrec.archive.errors import ArchiveFailedError, ArchiveRetryableError
from flexrec.archive.models import ArchivedRecording
from flexrec.archive.reader import plain_sha256, stored_equals
from flexrec.archive.rows import apply_context
from flexrec.archive.seal import SealFacts, seal, sha256_hex
from flexrec.archive.storage import (
    BlobNotFound,
    LocalStorage,
    NotWormError,
    ObjectLock,
    StorageError,
)
from flexrec.archive.worm import require_worm, versioned
from flexrec.twilio.errors import GatewayError

log = structlog.get_logger(__name__)


class Superseded(Exception):
    """Another worker changed the row's state first; this attempt must stop writing."""


class ArchiveSteps:
    """The archive job's steps for one row, each committed on its own."""

    def __init__(self, deps: ArchiveDeps) -> None:
        self.deps = deps

    def prepare(self, session: Session, row: ArchivedRecording) -> None:
        """Fill in metadata from Twilio and the recording service; fix the storage key."""
        if row.twilio_duration_s is None or row.call_sid is None or row.media_url is None:
            self.fetch_twilio_metadata(row)
        if self.deps.context_provider is not None:
            try:
                context = self.deps.context_provider(row.recording_sid, row.call_sid)
            except Exception:  # context enriches the row; its absence must not block archiving
                log.exception("archive.context_failed", recording_sid=row.recording_sid)
                context = None
            if context is not None:
                apply_context(row, context)
        if row.storage_key is None:
            # Fixed once and committed before any upload, so a retry writes the same key.
            started = (
                as_utc(row.recording_started_at) or as_utc(row.created_at) or self.deps.clock()
            )
            suffix = ".wav.enc" if self.deps.key else ".wav"
            row.storage_key = f"recordings/{started:%Y/%m/%d}/{row.recording_sid}{suffix}"
            row.encrypted = self.deps.key is not None
            row.key_id = self.deps.key.key_id if self.deps.key else None
        row.updated_at = self.deps.clock()
        session.commit()

    def fetch_twilio_metadata(self, row: ArchivedRecording) -> None:
        try:
            recording = self.deps.twilio.fetch_recording(row.recording_sid)
        except GatewayError as exc:
            if exc.not_found:
                if row.media_url:
                    return  # the callback's URL is all we need; Twilio may lag behind
                raise ArchiveFailedError("recording not found on Twilio") from exc
            raise ArchiveRetryableError(f"Twilio fetch failed: {exc}") from exc
        status = recording.status
        if status in {"in-progress", "paused", "processing"}:
            raise ArchiveRetryableError(f"recording is still {status}")
        if status in {"absent", "failed", "deleted"}:
            raise ArchiveFailedError(f"recording status on Twilio is {status}")
        row.call_sid = row.call_sid or recording.call_sid
        row.account_sid = row.account_sid or recording.account_sid
        if row.twilio_duration_s is None and recording.duration_s is not None:
            row.twilio_duration_s = recording.duration_s
        if row.recording_started_at is None and recording.start_time_ms is not None:
            row.recording_started_at = datetime.fromtimestamp(recording.start_time_ms / 1000, UTC)
        if row.channels is None and recording.channels is not None:
            row.channels = recording.channels
        if row.media_url is None:
            if recording.uri:
                row.media_url = media.media_url_from_uri(recording.uri)
            else:
                account = row.account_sid or self.deps.twilio.account_sid
                row.media_url = media.recording_media_url(account, row.recording_sid)

    def download_and_store(self, session: Session, row: ArchivedRecording) -> bytes | None:
        """Twilio's copy downloaded, checked, redacted, encrypted, stored and sealed; returns the
        bytes stored (for `read_back` to compare), or None when they streamed into the store.

        A plain recording bound for a local folder with nothing to redact or lock streams
        straight into the file that becomes the object (`LocalStorage.staged`), hashed as it
        arrives: no buffer the size of the recording is made (each was a fresh mapping whose
        pages the job paid to fault in, and which the worker's memory grew by).
        """
        assert row.storage_key is not None and row.media_url is not None  # noqa: S101
        expected_channels = row.channels if row.channels in (1, 2) else 2
        if row.encrypted and self.deps.key is None:
            raise ArchiveFailedError("row expects encryption but FLEXREC_ARCHIVE_KEY is unset")
        retain_until = row.retain_until or self.deps.retention.retain_until(
            as_utc(row.recording_started_at) or self.deps.clock(), row.queue_name
        )
        rule = self.deps.retention.rule_for(row.queue_name)
        lock = self.deps.retention.lock_for(row.queue_name, retain_until)
        if lock is not None and lock.retain_until <= self.deps.clock():
            lock = None  # already past its date (an old recording backfilled): nothing to lock
        store = self.deps.store
        if (
            isinstance(store, LocalStorage)
            and lock is None
            and not row.encrypted
            and self.deps.redactor is None
        ):
            facts, sha256, size = self.stream_into(store, row, expected_channels)
            stored = SealFacts(
                kind="audio",
                storage_key=row.storage_key,
                version_id=None,
                stored_sha256=sha256,
                stored_size=size,
                plain_sha256=sha256,
                plain_size=size,
                lock=None,
                legal_obligation=rule.legal_obligation,
                legal_hold=bool(row.legal_hold),
                key_id=None,
            )
            self.mark_stored(session, row, stored, facts, retain_until)
            return None
        try:
            data = media.download_wav(self.deps.twilio, row.media_url, expected_channels)
            facts = media.verify_wav(data, expected_channels, row.twilio_duration_s)
        except media.MediaError as exc:
            error = ArchiveRetryableError if exc.retryable else ArchiveFailedError
            raise error(str(exc)) from exc
        kept, report = data, None
        if self.deps.redactor is not None:
            # Before anything is stored: unredacted audio never reaches the archive.
            kept, report = self.deps.redactor(row.recording_sid, data)
        key = self.deps.key if row.encrypted else None
        payload = key.seal(kept, row.recording_sid) if key else kept
        version_id = self.put(row.storage_key, payload, lock, bool(row.legal_hold))
        # Each hash once (a minute of dual-channel audio is ~2 MB): the plaintext's is the row's
        # too, and an unencrypted object is its own plaintext.
        plain_sha256 = sha256_hex(kept)
        stored_sha256 = sha256_hex(payload) if key else plain_sha256
        stored = SealFacts(
            kind="audio",
            storage_key=row.storage_key,
            version_id=version_id,
            stored_sha256=stored_sha256,
            stored_size=len(payload),
            plain_sha256=plain_sha256,
            plain_size=len(kept),
            lock=lock,
            legal_obligation=rule.legal_obligation,
            legal_hold=bool(row.legal_hold),
            key_id=key.key_id if key else None,
            redaction=report,
        )
        self.mark_stored(session, row, stored, facts, retain_until)
        return payload

    def mark_stored(
        self,
        session: Session,
        row: ArchivedRecording,
        stored: SealFacts,
        facts: media.WavFacts,
        retain_until: datetime | None,
    ) -> None:
        """Move the row from `downloading` to `stored` with the object's seal, in one write."""
        self.transition(
            session,
            row,
            "downloading",
            seal_facts=stored,
            state="stored",
            sha256=stored.plain_sha256,
            size_bytes=stored.stored_size,
            channels=facts.channels,
            sample_rate_hz=facts.sample_rate_hz,
            duration_ms=facts.duration_ms,
            key_id=stored.key_id,
            retain_until=retain_until,
            last_error=None,
        )

    def stream_into(
        self, store: LocalStorage, row: ArchivedRecording, expected_channels: int
    ) -> tuple[media.WavFacts, str, int]:
        """Download Twilio's copy straight into the file that becomes the object, hashing it
        as it arrives, and check it before it is renamed into place: (facts, SHA-256, size).
        A download or check that fails leaves nothing stored (the half-written file goes)."""
        assert row.storage_key is not None and row.media_url is not None  # noqa: S101
        digest = hashlib.sha256()
        try:
            with store.staged(row.storage_key) as stage:

                def take(piece: memoryview) -> None:
                    stage.write(piece)
                    digest.update(piece)

                media.download_wav_into(self.deps.twilio, row.media_url, expected_channels, take)
                facts = media.verify_wav(stage.written(), expected_channels, row.twilio_duration_s)
        except media.MediaError as exc:
            error = ArchiveRetryableError if exc.retryable else ArchiveFailedError
            raise error(str(exc)) from exc
        except StorageError as exc:
            raise ArchiveRetryableError(str(exc)) from exc
        return facts, digest.hexdigest(), stage.size

    def put(self, key: str, payload: bytes, lock: ObjectLock | None, hold: bool) -> str | None:
        """Store the object (a new version with its lock on a versioned store)."""
        side = versioned(self.deps.store)
        try:
            if side is not None:
                return side.put_version(key, payload, lock, legal_hold=hold)
            if lock is not None:
                require_worm(self.deps.store, f"the retention policy locks {key}")
            self.deps.store.put(key, payload)
        except NotWormError as exc:
            raise ArchiveFailedError(str(exc)) from exc
        except StorageError as exc:
            raise ArchiveRetryableError(str(exc)) from exc
        return None

    def read_back(
        self, session: Session, row: ArchivedRecording, written: bytes | None = None
    ) -> None:
        """Read the stored object back and check it before Twilio's copy may go.

        `written`, the bytes this attempt stored, is compared with what the store returns as
        they are: equal bytes prove the copy as a hash would, without hashing the recording a
        second time or decrypting it. A resumed job (nothing written in this attempt) decrypts
        and compares the plaintext's hash with the row's.
        """
        try:
            if written is not None:
                intact = stored_equals(self.deps, row, written)
            else:
                intact = plain_sha256(self.deps, row) == row.sha256
        except (BlobNotFound, DecryptionError) as exc:
            # The stored copy is missing or damaged: start over from Twilio.
            self.transition(session, row, "stored", state="downloading")
            raise ArchiveRetryableError(f"stored object unreadable: {exc}") from exc
        except StorageError as exc:
            raise ArchiveRetryableError(str(exc)) from exc
        if not intact:
            self.transition(session, row, "stored", state="downloading")
            raise ArchiveRetryableError(f"stored object does not match its sha256 {row.sha256}")
        now = self.deps.clock()
        retain_until = row.retain_until
        if retain_until is None:
            started = as_utc(row.recording_started_at) or now
            retain_until = self.deps.retention.retain_until(started, row.queue_name)
        self.transition(
            session, row, "stored", state="verified", archived_at=now, retain_until=retain_until
        )

    def delete_from_twilio(self, session: Session, row: ArchivedRecording) -> None:
        try:
            self.deps.twilio.delete_recording(row.recording_sid)
        except GatewayError as exc:
            if not exc.not_found:  # 404: already gone (an earlier attempt got this far)
                raise ArchiveRetryableError(f"Twilio delete failed: {exc}") from exc
        now = self.deps.clock()
        self.transition(
            session, row, "verified", state="deleted_from_twilio", deleted_from_twilio_at=now
        )

    def transition(
        self,
        session: Session,
        row: ArchivedRecording,
        expected: str,
        *,
        seal_facts: SealFacts | None = None,
        **values: Any,
    ) -> None:
        """Compare-and-set: write `values` only if the row is still in state `expected`.

        Two workers may run the same job (a duplicated callback, a reconciler re-enqueue);
        the one that finds the state moved on stops instead of writing an older state back.
        """
        values.setdefault("updated_at", self.deps.clock())
        result = session.execute(
            update(ArchivedRecording)
            .where(ArchivedRecording.id == row.id, ArchivedRecording.state == expected)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult[Any], result).rowcount != 1:
            session.rollback()
            raise Superseded(row.recording_sid)
        for name, value in values.items():
            set_committed_value(row, name, value)
        if seal_facts is not None:
            # In the same transaction as the state: a stored object is sealed with it or not.
            seal(session, row, seal_facts, values["updated_at"])
        session.commit()
