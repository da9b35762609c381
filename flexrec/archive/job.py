"""The archive job: copy a finished recording into the archive, crash-safe and idempotent.

`archive_recording` resumes from the row's committed state (see `flexrec.archive.models` for
the state machine). The order of effects is what makes it crash-safe: the object is written
under its final key atomically, the row is updated, the object is read back and checked, and
only then is the recording deleted from Twilio.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy import Connection, bindparam, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flexrec.archive.deps import ArchiveDeps
from flexrec.archive.errors import ArchiveError, ArchiveFailedError, ArchiveRetryableError
from flexrec.archive.holds import on_hold
from flexrec.archive.models import ArchivedRecording
from flexrec.archive.steps import ArchiveSteps, Superseded
from flexrec.db.prepared import Prepared

log = structlog.get_logger(__name__)


class CompletionNote(Protocol):
    """An archive row as the completion note left it (the columns callers read)."""

    id: int
    recording_sid: str
    state: str
    attempts: int
    task_sids: list[str]
    call_sid: str | None
    media_url: str | None
    channels: int | None
    twilio_duration_s: int | None


class ArchiveJob:
    """Runs the archive job of one recording, and finds jobs that stopped before finishing."""

    def __init__(self, deps: ArchiveDeps) -> None:
        self.deps = deps
        self.steps = ArchiveSteps(deps)

    def note_completed(
        self,
        recording_sid: str,
        call_sid: str | None = None,
        media_url: str | None = None,
        channels: int | None = None,
        *,
        duration_s: int | None = None,
        started_at: datetime | None = None,
    ) -> CompletionNote:
        """Record what the completion callback told us in a transaction of its own (backfill,
        tests); the status callback notes it in its own transaction (`note_completed_in`).
        Returns the row as it now is (its columns, not a loaded object)."""
        with self.deps.sessions() as session:
            row = self.note_completed_in(
                session,
                recording_sid,
                call_sid,
                media_url,
                channels,
                duration_s=duration_s,
                started_at=started_at,
            )
            session.commit()
            return row

    def note_completed_in(
        self,
        executor: Connection | Session,
        recording_sid: str,
        call_sid: str | None = None,
        media_url: str | None = None,
        channels: int | None = None,
        *,
        duration_s: int | None = None,
        started_at: datetime | None = None,
    ) -> CompletionNote:
        """`note_completed` in the caller's transaction (fast, no I/O but the database): one
        prepared statement, since it runs inside the recording-status webhook of every
        recording, with that callback's own rows, so the recording is never left completed
        without its archive row (nor the reverse)."""
        now = self.deps.clock()
        row: CompletionNote = _COMPLETION_UPSERT.execute(
            executor,
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
        ).first()
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
            except Superseded:
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
        written = None
        if row.state == "downloading":
            self.steps.prepare(session, row)
            written = self.steps.download_and_store(session, row)
            log.info("archive.stored", recording_sid=sid, key=row.storage_key, size=row.size_bytes)
        if row.state == "stored":
            self.steps.read_back(session, row, written)
            log.info("archive.verified", recording_sid=sid, sha256=row.sha256)
        if (
            row.state == "verified"
            and self.deps.delete_from_twilio
            and not on_hold(session, row.id)
        ):
            self.steps.delete_from_twilio(session, row)
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
        *table.columns
    )


_COMPLETION_UPSERT = Prepared(_completion_upsert)
