"""The archive job: copy a finished recording into the archive, crash-safe and idempotent.

`archive_recording` resumes from the row's committed state (see `flexrec.archive.models` for
the state machine). The order of effects is what makes it crash-safe: the object is written
under its final key atomically, the row is updated, the object is read back and hashed, and
only then is the recording deleted from Twilio.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import structlog
from sqlalchemy import CursorResult, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from flexrec.archive import media
from flexrec.archive.crypto import DecryptionError
from flexrec.archive.deps import ArchiveDeps, as_utc
from flexrec.archive.errors import ArchiveError, ArchiveFailedError, ArchiveRetryableError
from flexrec.archive.holds import on_hold
from flexrec.archive.models import ArchivedRecording
from flexrec.archive.reader import load_plain
from flexrec.archive.rows import apply_context
from flexrec.archive.seal import SealFacts, seal, sha256_hex
from flexrec.archive.storage import BlobNotFound, NotWormError, ObjectLock, StorageError
from flexrec.archive.worm import require_worm, versioned
from flexrec.twilio.errors import GatewayError

log = structlog.get_logger(__name__)


class _Superseded(Exception):
    """Another worker changed the row's state first; this attempt must stop writing."""


class ArchiveJob:
    """Runs the archive job of one recording, and finds jobs that stopped before finishing."""

    def __init__(self, deps: ArchiveDeps) -> None:
        self.deps = deps

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
        """Record what the completion callback told us (fast, no I/O but the database): one
        statement, since it runs inside the recording-status webhook of every recording."""
        now = self.deps.clock()
        with self.deps.sessions() as session:
            upsert = _completion_upsert(session.get_bind().dialect.name)
            row: ArchivedRecording = session.scalars(
                upsert,
                {
                    "recording_sid": recording_sid,
                    "call_sid": call_sid,
                    "media_url": media_url,
                    "channels": channels,
                    "twilio_duration_s": duration_s,
                    "recording_started_at": started_at,
                    "created_at": now,
                    "updated_at": now,
                },
                execution_options={"populate_existing": True},
            ).one()
            session.commit()
            return row

    def _get_or_create(self, session: Session, recording_sid: str) -> ArchivedRecording:
        row = self.deps.find(session, recording_sid)
        if row is not None:
            return row
        now = self.deps.clock()
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
            found = self.deps.find(session, recording_sid)
            if found is None:
                raise
            return found
        return row

    def archive_recording(
        self, recording_sid: str, *, retry_failed: bool = False
    ) -> ArchivedRecording:
        """Download, verify, store, read back, then (if configured) delete from Twilio.

        Raises `ArchiveRetryableError` for the queue to retry with backoff, and
        `ArchiveFailedError` once attempts are exhausted or the fault is permanent.
        """
        with self.deps.sessions() as session:
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
            row.updated_at = self.deps.clock()
            session.commit()
            try:
                self._run_steps(session, row)
            except _Superseded:
                # Another worker moved this recording on; it finishes the job and its hooks.
                log.info("archive.superseded", recording_sid=recording_sid)
                session.expire_all()
                fresh = self.deps.find(session, recording_sid)
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
        for hook in self.deps.on_archived:
            try:
                hook(recording_sid)
            except Exception:  # a follow-up hook must never undo a finished archive
                log.exception("archive.on_archived_failed", recording_sid=recording_sid)

    def _finished(self, row: ArchivedRecording) -> bool:
        if row.state == "deleted_from_twilio":
            return True
        # A held recording keeps Twilio's copy too: the job is done until the hold is released.
        return row.state == "verified" and (not self.deps.delete_from_twilio or row.legal_hold)

    def _run_steps(self, session: Session, row: ArchivedRecording) -> None:
        sid = row.recording_sid
        if row.state == "downloading":
            self._prepare(session, row)
            self._download_and_store(session, row)
            log.info("archive.stored", recording_sid=sid, key=row.storage_key, size=row.size_bytes)
        if row.state == "stored":
            self._read_back(session, row)
            log.info("archive.verified", recording_sid=sid, sha256=row.sha256)
        if (
            row.state == "verified"
            and self.deps.delete_from_twilio
            and not on_hold(session, row.id)
        ):
            self._delete_from_twilio(session, row)
            log.info("archive.deleted_from_twilio", recording_sid=sid)

    def _record_failure(
        self, session: Session, recording_sid: str, exc: ArchiveError
    ) -> ArchivedRecording:
        # Objects outlive commits here (expire_on_commit=False): reload what others wrote.
        session.expire_all()
        row = self.deps.find(session, recording_sid)
        assert row is not None  # noqa: S101 - created and committed at the start of the job
        if self._finished(row):
            return row  # a concurrent worker finished it while this attempt failed
        row.last_error = str(exc)[:2000]
        row.updated_at = self.deps.clock()
        permanent = isinstance(exc, ArchiveFailedError) or row.attempts >= self.deps.max_attempts
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

    def _fetch_twilio_metadata(self, row: ArchivedRecording) -> None:
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

    def _download_and_store(self, session: Session, row: ArchivedRecording) -> None:
        assert row.storage_key is not None and row.media_url is not None  # noqa: S101
        expected_channels = row.channels if row.channels in (1, 2) else 2
        try:
            data = media.download_wav(self.deps.twilio, row.media_url, expected_channels)
            facts = media.verify_wav(data, expected_channels, row.twilio_duration_s)
        except media.MediaError as exc:
            error = ArchiveRetryableError if exc.retryable else ArchiveFailedError
            raise error(str(exc)) from exc
        if row.encrypted and self.deps.key is None:
            raise ArchiveFailedError("row expects encryption but FLEXREC_ARCHIVE_KEY is unset")
        kept, report = data, None
        if self.deps.redactor is not None:
            # Before anything is stored: unredacted audio never reaches the archive.
            kept, report = self.deps.redactor(row.recording_sid, data)
        key = self.deps.key if row.encrypted else None
        payload = key.seal(kept, row.recording_sid) if key else kept
        retain_until = row.retain_until or self.deps.retention.retain_until(
            as_utc(row.recording_started_at) or self.deps.clock(), row.queue_name
        )
        rule = self.deps.retention.rule_for(row.queue_name)
        lock = self.deps.retention.lock_for(row.queue_name, retain_until)
        if lock is not None and lock.retain_until <= self.deps.clock():
            lock = None  # already past its date (an old recording backfilled): nothing to lock
        version_id = self._put(row.storage_key, payload, lock, bool(row.legal_hold))
        # Each hash once (a minute of dual-channel audio is ~2 MB): the plaintext's is the row's
        # too, and an unencrypted object is its own plaintext.
        plain_sha256 = sha256_hex(kept)
        stored_sha256 = sha256_hex(payload) if key else plain_sha256
        self._transition(
            session,
            row,
            "downloading",
            seal_facts=SealFacts(
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
            ),
            state="stored",
            sha256=plain_sha256,
            size_bytes=len(payload),
            channels=facts.channels,
            sample_rate_hz=facts.sample_rate_hz,
            duration_ms=facts.duration_ms,
            key_id=key.key_id if key else None,
            retain_until=retain_until,
            last_error=None,
        )

    def _put(self, key: str, payload: bytes, lock: ObjectLock | None, hold: bool) -> str | None:
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

    def _read_back(self, session: Session, row: ArchivedRecording) -> None:
        try:
            data = load_plain(self.deps, row)
        except (BlobNotFound, DecryptionError) as exc:
            # The stored copy is missing or damaged: start over from Twilio.
            self._transition(session, row, "stored", state="downloading")
            raise ArchiveRetryableError(f"stored object unreadable: {exc}") from exc
        except StorageError as exc:
            raise ArchiveRetryableError(str(exc)) from exc
        if hashlib.sha256(data).hexdigest() != row.sha256:
            self._transition(session, row, "stored", state="downloading")
            raise ArchiveRetryableError("stored object does not match its sha256")
        now = self.deps.clock()
        retain_until = row.retain_until
        if retain_until is None:
            started = as_utc(row.recording_started_at) or now
            retain_until = self.deps.retention.retain_until(started, row.queue_name)
        self._transition(
            session, row, "stored", state="verified", archived_at=now, retain_until=retain_until
        )

    def _delete_from_twilio(self, session: Session, row: ArchivedRecording) -> None:
        try:
            self.deps.twilio.delete_recording(row.recording_sid)
        except GatewayError as exc:
            if not exc.not_found:  # 404: already gone (an earlier attempt got this far)
                raise ArchiveRetryableError(f"Twilio delete failed: {exc}") from exc
        now = self.deps.clock()
        self._transition(
            session, row, "verified", state="deleted_from_twilio", deleted_from_twilio_at=now
        )

    def _transition(
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
            raise _Superseded(row.recording_sid)
        for name, value in values.items():
            set_committed_value(row, name, value)
        if seal_facts is not None:
            # In the same transaction as the state: a stored object is sealed with it or not.
            seal(session, row, seal_facts, values["updated_at"])
        session.commit()

    def unfinished(self, stale_after: timedelta = timedelta(minutes=10)) -> list[str]:
        """Recordings whose archive job stopped before finishing and has not moved for a while.

        A periodic reconciler re-enqueues these: a job lost in a crash (or whose retries ran
        out in the queue) is picked up again, and the job itself is idempotent.
        """
        threshold = self.deps.clock() - stale_after
        states = ["downloading", "stored"] + (["verified"] if self.deps.delete_from_twilio else [])
        with self.deps.sessions() as session:
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


@functools.cache
def _completion_upsert(dialect: str) -> Any:
    """The completion callback's facts into the recording's archive row, created if missing,
    each kept if the row already has it (INSERT ... ON CONFLICT DO UPDATE ... RETURNING)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = ArchivedRecording.__table__
    stmt = insert(ArchivedRecording).values(
        recording_sid=bindparam("recording_sid"),
        call_sid=bindparam("call_sid"),
        media_url=bindparam("media_url"),
        channels=bindparam("channels"),
        twilio_duration_s=bindparam("twilio_duration_s"),
        recording_started_at=bindparam("recording_started_at"),
        state="downloading",
        attempts=0,
        task_sids=[],
        encrypted=False,
        legal_hold=False,
        created_at=bindparam("created_at"),
        updated_at=bindparam("updated_at"),
    )
    kept = ("call_sid", "media_url", "channels", "twilio_duration_s", "recording_started_at")
    changes: dict[str, Any] = {
        name: func.coalesce(table.c[name], stmt.excluded[name]) for name in kept
    }
    changes["updated_at"] = stmt.excluded.updated_at
    return stmt.on_conflict_do_update(index_elements=["recording_sid"], set_=changes).returning(
        ArchivedRecording
    )
