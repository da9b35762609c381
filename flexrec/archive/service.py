"""The archive job and everything built on archived media: analysis, peaks, playback, holds.

`archive_recording` is idempotent and resumes from the row's committed state (see
`flexrec.archive.models` for the state machine). The order of effects is what makes it
crash-safe: the object is written under its final key atomically, the row is updated, the
object is read back and hashed, and only then is the recording deleted from Twilio.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import structlog
from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from flexrec.archive import media
from flexrec.archive.analysis_rows import analysis_entry_point, analysis_labels, analysis_values
from flexrec.archive.cache import BytesLru
from flexrec.archive.crypto import (
    OVERHEAD_BYTES,
    ArchiveKey,
    DecryptionError,
    load_archive_key,
)
from flexrec.archive.errors import (
    ArchiveError,
    ArchiveFailedError,
    ArchiveRetryableError,
    RecordingNotArchived,
)
from flexrec.archive.holds import on_hold, place_hold, release_hold
from flexrec.archive.models import DONE_STATES, ArchivedRecording, AuditLog, RecordingAnalysis
from flexrec.archive.retention import RetentionPolicy, apply_retention, load_retention_policy
from flexrec.archive.storage import BlobNotFound, BlobStore, StorageError, open_storage
from flexrec.twilio.errors import GatewayError
from flexrec.twilio.gateway import as_archive_gateway

log = structlog.get_logger(__name__)

__all__ = [
    "ArchiveError",
    "ArchiveFailedError",
    "ArchiveRetryableError",
    "ArchiveService",
    "BytesLru",
    "ContextProvider",
    "RecordingContext",
    "RecordingNotArchived",
    "analysis_labels",
]

DEFAULT_MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class RecordingContext:
    """Facts about a recording's call that only the recording service knows."""

    task_sids: tuple[str, ...] = ()
    queue_name: str | None = None
    direction: str | None = None
    worker_sid: str | None = None
    agent_identity: str | None = None
    customer_number: str | None = None
    # Insights channel labels as written to the task, e.g. ("customer", "others").
    channel_labels: tuple[str, ...] | None = None
    # Paused intervals in ms from the recording's start (for analysis).
    paused_ms: tuple[tuple[int, int], ...] = field(default_factory=tuple)


ContextProvider = Callable[[str, str | None], RecordingContext | None]
"""(recording_sid, call_sid) -> context, or None when the service knows nothing of it."""


def utcnow() -> datetime:
    """The current time in UTC (the service's clock)."""
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """Treat naive datetimes (SQLite drops the offset) as UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class _Superseded(Exception):
    """Another worker changed the row's state first; this attempt must stop writing."""


class ArchiveService:
    """Copies finished recordings into the archive and serves what was archived."""

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
    ) -> None:
        self.sessions = sessions
        self.store = store
        # Every Twilio call (fetch, media, delete) goes through the one gateway, so a failure
        # of any kind (HTTP, urllib3, OS, timeout) arrives as a GatewayError and is retried.
        self.twilio = as_archive_gateway(twilio_client)
        self.key = key
        self.delete_from_twilio = delete_from_twilio
        self.retention = retention or RetentionPolicy()
        self.context_provider = context_provider
        self.clock = clock
        self.max_attempts = max_attempts
        self._plain_cache = BytesLru(plain_cache_bytes)
        # Called with the recording SID once its media is verified in the archive; the lead
        # wires these to enqueue analysis and to point the task's media entry at the archive.
        self.on_archived: list[Callable[[str], None]] = []

    @classmethod
    def from_settings(
        cls,
        settings: Any,
        sessions: sessionmaker[Session],
        twilio_client: Any,
        **kwargs: Any,
    ) -> ArchiveService:
        """Build the service from `flexrec.config.Settings` (store, key, policy)."""
        storage = settings.storage
        store = open_storage(storage.resolved_archive_url(), storage.s3_endpoint_url)
        key = load_archive_key(storage.archive_key.get_secret_value())
        retention = load_retention_policy(settings.policy.policy_file)
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

    # ------------------------------------------------------------------ registration

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
        with self.sessions() as session:
            row = self._get_or_create(session, recording_sid)
            row.call_sid = row.call_sid or call_sid
            row.media_url = row.media_url or media_url
            row.channels = row.channels or channels
            if duration_s is not None and row.twilio_duration_s is None:
                row.twilio_duration_s = duration_s
            if started_at is not None and row.recording_started_at is None:
                row.recording_started_at = started_at
            row.updated_at = self.clock()
            session.commit()
            return row

    def _get_or_create(self, session: Session, recording_sid: str) -> ArchivedRecording:
        row = self._find(session, recording_sid)
        if row is not None:
            return row
        now = self.clock()
        row = ArchivedRecording(
            recording_sid=recording_sid,
            state="downloading",
            attempts=0,
            task_sids=[],
            encrypted=False,
            legal_hold=False,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        try:
            session.flush()
        except IntegrityError:
            # Another worker created it between our read and write: use theirs.
            session.rollback()
            found = self._find(session, recording_sid)
            if found is None:
                raise
            return found
        return row

    @staticmethod
    def _find(session: Session, recording_sid: str) -> ArchivedRecording | None:
        return session.scalars(
            select(ArchivedRecording).where(ArchivedRecording.recording_sid == recording_sid)
        ).one_or_none()

    def get(self, recording_sid: str) -> ArchivedRecording | None:
        """The archive row of a recording, if any."""
        with self.sessions() as session:
            return self._find(session, recording_sid)

    # ------------------------------------------------------------------ the archive job

    def archive_recording(
        self, recording_sid: str, *, retry_failed: bool = False
    ) -> ArchivedRecording:
        """Download, verify, store, read back, then (if configured) delete from Twilio.

        Raises `ArchiveRetryableError` for the queue to retry with backoff, and
        `ArchiveFailedError` once attempts are exhausted or the fault is permanent.
        """
        with self.sessions() as session:
            row = self._get_or_create(session, recording_sid)
            if row.state == "failed":
                if not retry_failed:
                    session.commit()
                    return row
                row.state = "deleted_from_twilio" if row.deleted_from_twilio_at else "downloading"
                row.attempts = 0
            if self._finished(row):
                session.commit()
                self._run_hooks(recording_sid)
                return row
            row.attempts += 1
            row.updated_at = self.clock()
            session.commit()
            try:
                self._run_steps(session, row)
            except _Superseded:
                # Another worker moved this recording on; it finishes the job and its hooks.
                log.info("archive.superseded", recording_sid=recording_sid)
                session.expire_all()
                fresh = self._find(session, recording_sid)
                assert fresh is not None  # noqa: S101 - rows are never deleted
                return fresh
            except (ArchiveRetryableError, ArchiveFailedError) as exc:
                session.rollback()
                return self._record_failure(session, recording_sid, exc)
            archived = row
        self._run_hooks(recording_sid)
        return archived

    def _run_hooks(self, recording_sid: str) -> None:
        # Run on every successful call, not just the first: a crash right after the archive
        # finished must not lose the follow-ups (they are idempotent).
        for hook in self.on_archived:
            try:
                hook(recording_sid)
            except Exception:  # a follow-up hook must never undo a finished archive
                log.exception("archive.on_archived_failed", recording_sid=recording_sid)

    def _finished(self, row: ArchivedRecording) -> bool:
        if row.state == "deleted_from_twilio":
            return True
        # A held recording keeps Twilio's copy too: the job is done until the hold is released.
        return row.state == "verified" and (not self.delete_from_twilio or row.legal_hold)

    def _run_steps(self, session: Session, row: ArchivedRecording) -> None:
        sid = row.recording_sid
        if row.state == "downloading":
            self._prepare(session, row)
            self._download_and_store(session, row)
            log.info("archive.stored", recording_sid=sid, key=row.storage_key, size=row.size_bytes)
        if row.state == "stored":
            self._read_back(session, row)
            log.info("archive.verified", recording_sid=sid, sha256=row.sha256)
        if row.state == "verified" and self.delete_from_twilio and not on_hold(session, row.id):
            self._delete_from_twilio(session, row)
            log.info("archive.deleted_from_twilio", recording_sid=sid)

    def _record_failure(
        self, session: Session, recording_sid: str, exc: ArchiveError
    ) -> ArchivedRecording:
        # Objects outlive commits here (expire_on_commit=False): reload what others wrote.
        session.expire_all()
        row = self._find(session, recording_sid)
        assert row is not None  # noqa: S101 - created and committed at the start of the job
        if self._finished(row):
            return row  # a concurrent worker finished it while this attempt failed
        row.last_error = str(exc)[:2000]
        row.updated_at = self.clock()
        permanent = isinstance(exc, ArchiveFailedError) or row.attempts >= self.max_attempts
        if permanent:
            row.state = "failed"
        session.commit()
        log.warning(
            "archive.attempt_failed",
            recording_sid=recording_sid,
            attempt=row.attempts,
            permanent=permanent,
            error=str(exc),
        )
        if permanent:
            raise ArchiveFailedError(f"{recording_sid}: {exc}") from exc
        raise ArchiveRetryableError(f"{recording_sid}: {exc}") from exc

    def _prepare(self, session: Session, row: ArchivedRecording) -> None:
        """Fill in metadata from Twilio and the recording service; fix the storage key."""
        if row.twilio_duration_s is None or row.call_sid is None or row.media_url is None:
            self._fetch_twilio_metadata(row)
        if self.context_provider is not None:
            try:
                context = self.context_provider(row.recording_sid, row.call_sid)
            except Exception:  # context enriches the row; its absence must not block archiving
                log.exception("archive.context_failed", recording_sid=row.recording_sid)
                context = None
            if context is not None:
                apply_context(row, context)
        if row.storage_key is None:
            # Fixed once and committed before any upload, so a retry writes the same key.
            started = as_utc(row.recording_started_at) or as_utc(row.created_at) or self.clock()
            suffix = ".wav.enc" if self.key else ".wav"
            row.storage_key = f"recordings/{started:%Y/%m/%d}/{row.recording_sid}{suffix}"
            row.encrypted = self.key is not None
            row.key_id = self.key.key_id if self.key else None
        row.updated_at = self.clock()
        session.commit()

    def _fetch_twilio_metadata(self, row: ArchivedRecording) -> None:
        try:
            recording = self.twilio.fetch_recording(row.recording_sid)
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
                account = row.account_sid or self.twilio.account_sid
                row.media_url = media.recording_media_url(account, row.recording_sid)

    def _download_and_store(self, session: Session, row: ArchivedRecording) -> None:
        assert row.storage_key is not None and row.media_url is not None  # noqa: S101
        expected_channels = row.channels if row.channels in (1, 2) else 2
        try:
            data = media.download_wav(self.twilio, row.media_url, expected_channels)
            facts = media.verify_wav(data, expected_channels, row.twilio_duration_s)
        except media.MediaError as exc:
            error = ArchiveRetryableError if exc.retryable else ArchiveFailedError
            raise error(str(exc)) from exc
        if row.encrypted and self.key is None:
            raise ArchiveFailedError("row expects encryption but FLEXREC_ARCHIVE_KEY is unset")
        payload = self.key.seal(data, row.recording_sid) if row.encrypted and self.key else data
        try:
            self.store.put(row.storage_key, payload)
        except StorageError as exc:
            raise ArchiveRetryableError(str(exc)) from exc
        self._transition(
            session,
            row,
            "downloading",
            state="stored",
            sha256=hashlib.sha256(data).hexdigest(),
            size_bytes=len(payload),
            channels=facts.channels,
            sample_rate_hz=facts.sample_rate_hz,
            duration_ms=facts.duration_ms,
            key_id=self.key.key_id if row.encrypted and self.key else None,
            last_error=None,
        )

    def _read_back(self, session: Session, row: ArchivedRecording) -> None:
        try:
            data = self._load_plain(row)
        except (BlobNotFound, DecryptionError) as exc:
            # The stored copy is missing or damaged: start over from Twilio.
            self._transition(session, row, "stored", state="downloading")
            raise ArchiveRetryableError(f"stored object unreadable: {exc}") from exc
        except StorageError as exc:
            raise ArchiveRetryableError(str(exc)) from exc
        if hashlib.sha256(data).hexdigest() != row.sha256:
            self._transition(session, row, "stored", state="downloading")
            raise ArchiveRetryableError("stored object does not match its sha256")
        now = self.clock()
        retain_until = row.retain_until
        if retain_until is None:
            started = as_utc(row.recording_started_at) or now
            retain_until = self.retention.retain_until(started, row.queue_name)
        self._transition(
            session, row, "stored", state="verified", archived_at=now, retain_until=retain_until
        )

    def _delete_from_twilio(self, session: Session, row: ArchivedRecording) -> None:
        try:
            self.twilio.delete_recording(row.recording_sid)
        except GatewayError as exc:
            if not exc.not_found:  # 404: already gone (an earlier attempt got this far)
                raise ArchiveRetryableError(f"Twilio delete failed: {exc}") from exc
        now = self.clock()
        self._transition(
            session, row, "verified", state="deleted_from_twilio", deleted_from_twilio_at=now
        )

    def _transition(
        self, session: Session, row: ArchivedRecording, expected: str, **values: Any
    ) -> None:
        """Compare-and-set: write `values` only if the row is still in state `expected`.

        Two workers may run the same job (a duplicated callback, a reconciler re-enqueue);
        the one that finds the state moved on stops instead of writing an older state back.
        """
        values.setdefault("updated_at", self.clock())
        result = session.execute(
            update(ArchivedRecording)
            .where(ArchivedRecording.id == row.id, ArchivedRecording.state == expected)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult[Any], result).rowcount != 1:
            session.rollback()
            raise _Superseded(row.recording_sid)
        session.commit()
        for name, value in values.items():
            set_committed_value(row, name, value)

    def unfinished(self, stale_after: timedelta = timedelta(minutes=10)) -> list[str]:
        """Recordings whose archive job stopped before finishing and has not moved for a while.

        A periodic reconciler re-enqueues these: a job lost in a crash (or whose retries ran
        out in the queue) is picked up again, and the job itself is idempotent.
        """
        threshold = self.clock() - stale_after
        states = ["downloading", "stored"] + (["verified"] if self.delete_from_twilio else [])
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(ArchivedRecording.recording_sid)
                    .where(
                        ArchivedRecording.state.in_(states),
                        ArchivedRecording.updated_at <= threshold,
                        # held and verified: nothing to do until the hold is released
                        or_(
                            ArchivedRecording.state != "verified",
                            ArchivedRecording.legal_hold.is_(False),
                        ),
                    )
                    .order_by(ArchivedRecording.updated_at)
                )
            )

    def unanalysed(self, limit: int = 100) -> list[str]:
        """Archived recordings never analysed (oldest first); failed analyses are not retried."""
        done = select(RecordingAnalysis.recording_sid).where(
            RecordingAnalysis.state.in_(("done", "failed"))
        )
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(ArchivedRecording.recording_sid)
                    .where(
                        ArchivedRecording.state.in_(sorted(DONE_STATES)),
                        ArchivedRecording.purged_at.is_(None),
                        ArchivedRecording.recording_sid.not_in(done),
                    )
                    .order_by(ArchivedRecording.archived_at)
                    .limit(limit)
                )
            )

    # ------------------------------------------------------------------ reading media

    def _load_plain(self, row: ArchivedRecording) -> bytes:
        assert row.storage_key is not None  # noqa: S101
        blob = self.store.get(row.storage_key)
        if not row.encrypted:
            return blob
        if self.key is None:
            raise DecryptionError("archive key not configured")
        return self.key.open(blob, row.recording_sid)

    def _playable(self, recording_sid: str) -> ArchivedRecording:
        row = self.get(recording_sid)
        if (
            row is None
            or row.state not in DONE_STATES
            or row.purged_at is not None
            or row.storage_key is None
        ):
            raise RecordingNotArchived(recording_sid)
        return row

    def _plain_cached(self, row: ArchivedRecording) -> bytes:
        cache_key = f"{row.recording_sid}:{row.sha256}"
        cached = self._plain_cache.get(cache_key)
        if cached is not None:
            return cached
        data = self._load_plain(row)
        self._plain_cache.put(cache_key, data)
        return data

    def read_media(self, recording_sid: str) -> bytes:
        """The archived WAV (decrypted); raises `RecordingNotArchived`."""
        row = self._playable(recording_sid)
        try:
            return self._plain_cached(row) if row.encrypted else self._load_plain(row)
        except BlobNotFound as exc:
            raise RecordingNotArchived(recording_sid) from exc

    def media_size(self, recording_sid: str) -> int:
        """Size in bytes of the (decrypted) WAV, without reading it."""
        row = self._playable(recording_sid)
        assert row.storage_key is not None  # noqa: S101 - checked by _playable
        try:
            stored = self.store.size(row.storage_key)
        except BlobNotFound as exc:
            raise RecordingNotArchived(recording_sid) from exc
        return stored - OVERHEAD_BYTES if row.encrypted else stored

    def read_media_range(self, recording_sid: str, start: int, end: int) -> bytes:
        """Bytes `start..end` (inclusive) of the decrypted WAV.

        Plain objects are read partially from storage; sealed ones must be opened whole (GCM
        authenticates the whole object), so recently opened ones are kept in a small cache for
        the burst of range requests a player makes.
        """
        row = self._playable(recording_sid)
        assert row.storage_key is not None  # noqa: S101 - checked by _playable
        try:
            if row.encrypted:
                return self._plain_cached(row)[start : end + 1]
            return self.store.get_range(row.storage_key, start, end)
        except BlobNotFound as exc:
            raise RecordingNotArchived(recording_sid) from exc

    # ------------------------------------------------------------------ analysis and peaks

    def analyse(self, recording_sid: str) -> RecordingAnalysis:
        """Run conversation analysis on the archived media and store it (idempotent).

        A recording that cannot be analysed (not two channels, or the analysis raised) gets a
        `failed` analysis row with the reason, and `ArchiveError` is raised; the reconciler
        does not retry those (call `analyse` again after a fix).
        """
        with self.sessions() as session:
            existing = self._find_analysis(session, recording_sid)
            if existing is not None and existing.state == "done":
                return existing
        row = self._playable(recording_sid)
        audio, rate = media.decode_wav(self.read_media(recording_sid))
        labels = analysis_labels(row.channel_labels)
        peaks = media.compute_peaks(audio, rate, labels)
        analyse_recording = analysis_entry_point()
        try:
            if audio.shape[1] != 2:
                raise ValueError(f"analysis needs two channels, the media has {audio.shape[1]}")
            paused = media.merge_spans(row_paused(row), media.digital_silence_spans(audio, rate))
            result = analyse_recording(audio, rate, channels=labels, paused=tuple(paused))
            values = analysis_values(result)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"[:2000]

            def record_failure(analysis: RecordingAnalysis) -> None:
                analysis.state = "failed"
                analysis.last_error = reason
                analysis.peaks = peaks

            self._save_analysis(recording_sid, record_failure)
            log.warning("archive.analysis_failed", recording_sid=recording_sid, error=reason)
            raise ArchiveError(f"analysis of {recording_sid} failed: {reason}") from exc

        def record(analysis: RecordingAnalysis) -> None:
            for name, value in values.items():
                setattr(analysis, name, value)
            analysis.peaks = peaks
            # Where the pauses were, so the console can draw them (the metrics hold only totals).
            analysis.metrics = {
                **(analysis.metrics or {}),
                "paused_spans": [[int(a), int(b)] for a, b in paused],
            }
            analysis.duration_ms = analysis.duration_ms or row.duration_ms
            analysis.state = "done"
            analysis.last_error = None
            analysis.analysed_at = self.clock()

        return self._save_analysis(recording_sid, record)

    def _save_analysis(
        self, recording_sid: str, update: Callable[[RecordingAnalysis], None]
    ) -> RecordingAnalysis:
        """Create or update the analysis row; a concurrent insert is retried as an update."""
        for _ in range(2):
            now = self.clock()
            with self.sessions() as session:
                analysis = self._find_analysis(session, recording_sid)
                if analysis is None:
                    analysis = RecordingAnalysis(
                        recording_sid=recording_sid, state="pending", created_at=now
                    )
                    session.add(analysis)
                update(analysis)
                analysis.updated_at = now
                try:
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    continue
                return analysis
        raise ArchiveError(f"could not save the analysis of {recording_sid}")

    def peaks(self, recording_sid: str) -> dict[str, Any]:
        """Waveform peaks for the console, computed once and cached in `recording_analyses`."""
        with self.sessions() as session:
            analysis = self._find_analysis(session, recording_sid)
            if analysis is not None and analysis.peaks:
                return analysis.peaks
        row = self._playable(recording_sid)
        audio, rate = media.decode_wav(self.read_media(recording_sid))
        peaks = media.compute_peaks(audio, rate, analysis_labels(row.channel_labels))

        def record(analysis: RecordingAnalysis) -> None:
            analysis.peaks = peaks

        self._save_analysis(recording_sid, record)
        return peaks

    @staticmethod
    def _find_analysis(session: Session, recording_sid: str) -> RecordingAnalysis | None:
        return session.scalars(
            select(RecordingAnalysis).where(RecordingAnalysis.recording_sid == recording_sid)
        ).one_or_none()

    # ------------------------------------------------------------------ retention and holds

    def apply_retention(self, now: datetime | None = None) -> list[str]:
        """Purge expired media not on legal hold; returns the purged recording SIDs."""
        return apply_retention(self.sessions, self.store, now or self.clock(), self.clock)

    def set_legal_hold(
        self, recording_sid: str, hold: bool, actor: str, reason: str = ""
    ) -> ArchivedRecording:
        """Put a recording under legal hold (or release it); audited (flexrec.archive.holds)."""
        change = place_hold if hold else release_hold
        change(self.sessions, recording_sid, actor, reason, clock=self.clock)
        with self.sessions() as session:
            row = self._find(session, recording_sid)
            if row is None:  # pragma: no cover - the hold functions raise first
                raise RecordingNotArchived(recording_sid)
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
        with self.sessions() as session:
            session.add(
                AuditLog(
                    at=self.clock(),
                    actor=actor,
                    actor_worker_sid=worker_sid,
                    action=action,
                    recording_sid=recording_sid,
                    ip=ip,
                    detail=dict(detail or {}),
                )
            )
            session.commit()

    # ------------------------------------------------------------------ Insights

    def attribute_entry(self, recording_sid: str, public_url: str) -> dict[str, Any]:
        """The task's `conversations.media` VoiceRecording entry pointing at the archive.

        `url_provider` makes Insights ask flexrec for a short-lived signed link (Flex token
        checked); `url` names the same media for tools that only read `url`.
        """
        row = self.get(recording_sid)
        if row is None or row.state not in DONE_STATES:
            raise RecordingNotArchived(recording_sid)
        base = public_url.rstrip("/")
        started = as_utc(row.recording_started_at) or as_utc(row.created_at)
        assert started is not None  # noqa: S101 - created_at is always set
        entry: dict[str, Any] = {
            "type": "VoiceRecording",
            "url": f"{base}/media/recordings/{recording_sid}.wav",
            "url_provider": f"{base}/insights/recordings/{recording_sid}/url",
            "start_time": int(started.timestamp() * 1000),
            "channels": list(row.channel_labels or ("customer", "others")),
        }
        return entry

    def may_access(
        self, recording_sid: str, worker_sid: str | None, identity: str, roles: Sequence[str]
    ) -> bool:
        """Supervisors and admins see every recording; an agent only calls they handled.

        "Handled" includes transfers: an agent who accepted a reservation of any task the
        recording is linked to (the recording service's `reservations` table) may listen too.
        """
        if {"supervisor", "admin"} & set(roles):
            return True
        row = self.get(recording_sid)
        if row is None:
            return False
        if worker_sid and row.worker_sid == worker_sid:
            return True
        if identity and row.agent_identity == identity:
            return True
        if not worker_sid or not row.task_sids:
            return False
        from flexrec.db.models import ReservationRecord

        with self.sessions() as session:
            handled = session.scalars(
                select(ReservationRecord.sid)
                .where(
                    ReservationRecord.task_sid.in_(list(row.task_sids)),
                    ReservationRecord.worker_sid == worker_sid,
                    ReservationRecord.accepted_ms.is_not(None),
                )
                .limit(1)
            ).first()
        return handled is not None


def apply_context(row: ArchivedRecording, context: RecordingContext) -> None:
    """Copy what the recording service knows onto the archive row (never erase facts)."""
    tasks = list(row.task_sids or [])
    tasks.extend(t for t in context.task_sids if t not in tasks)
    row.task_sids = tasks
    row.queue_name = context.queue_name or row.queue_name
    row.direction = context.direction or row.direction
    row.worker_sid = context.worker_sid or row.worker_sid
    row.agent_identity = context.agent_identity or row.agent_identity
    row.customer_number = context.customer_number or row.customer_number
    if context.channel_labels:
        row.channel_labels = list(context.channel_labels)
    if context.paused_ms:
        row.paused_ms = [list(p) for p in context.paused_ms]


def row_paused(row: ArchivedRecording) -> list[tuple[int, int]]:
    """Paused intervals stored on the row (ms from the recording's start)."""
    return [(int(a), int(b)) for a, b in (row.paused_ms or [])]
