"""The archive's queue jobs (thin wrappers) and the hook that feeds them completed recordings.

Wiring, done by the lead in one place:

    on_completed = register_archive_jobs(queue, archive)
    recording_service.intake.on_recording_completed(on_completed)

Retries: an `ArchiveRetryableError` re-enqueues the job itself with exponential backoff (the
row counts attempts and turns `failed` at the cap), so the queue's own fixed-delay retries only
cover unexpected crashes. A periodic reconciler re-enqueues stale unfinished rows and missing
analyses, which also recovers jobs lost with a killed worker.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import structlog

from flexrec.archive.service import (
    ArchiveError,
    ArchiveFailedError,
    ArchiveRetryableError,
    ArchiveService,
    RecordingNotArchived,
)
from flexrec.archive.storage import StorageError
from flexrec.ports import JobRegistry

log = structlog.get_logger(__name__)

JOB_ARCHIVE = "archive_recording"
JOB_ANALYSE = "archive_analyse"
JOB_RETENTION = "archive_retention"
JOB_RECONCILE = "archive_reconcile"
JOB_OBJECT_HOLDS = "archive_object_holds"

CompletionHook = Callable[[str, str, str, int], None]


def backoff_s(attempts: int, base_s: float = 15.0, cap_s: float = 600.0) -> float:
    """Delay before attempt `attempts + 1`: 15 s, 30 s, 60 s … capped at 10 minutes."""
    return float(min(cap_s, base_s * 2 ** max(0, attempts - 1)))


def register_archive_jobs(
    queue: JobRegistry,
    archive: ArchiveService,
    *,
    analyse: bool = True,
    reconcile_every_minutes: int = 5,
    retention_every_minutes: int = 60,
    stale_after: timedelta = timedelta(minutes=10),
    retry_base_s: float = 15.0,
) -> CompletionHook:
    """Register the archive jobs; returns the `on_recording_completed` callback to install."""

    def archive_job(recording_sid: str) -> str:
        try:
            archive.job.archive_recording(recording_sid)
        except ArchiveRetryableError:
            row = archive.get(recording_sid)
            delay = backoff_s(row.attempts if row else 1, base_s=retry_base_s)
            queue.enqueue(JOB_ARCHIVE, recording_sid, delay_s=delay)
            return "retry"
        except ArchiveFailedError:
            return "failed"  # the row says why; an operator can retry it (backfill does)
        return "done"

    def analyse_job(recording_sid: str) -> str:
        try:
            # The analysis is an archived object too: stored, locked and sealed like the audio,
            # and so is the transcript where card checking made one.
            archive.analyses.analyse(recording_sid)
        except RecordingNotArchived:
            return "gone"
        except ArchiveError as exc:
            log.warning("archive.analysis_unavailable", recording_sid=recording_sid, error=str(exc))
            return "skipped"
        except StorageError as exc:
            # Storing the sealed copy failed (the analysis itself is saved): both are idempotent.
            log.warning("archive.analysis_seal_failed", recording_sid=recording_sid, error=str(exc))
            queue.enqueue(JOB_ANALYSE, recording_sid, delay_s=backoff_s(1))
            return "retry"
        return "done"

    def retention_job() -> int:
        return len(archive.holds.apply_retention())

    def reconcile_job() -> int:
        stale = archive.job.unfinished(stale_after)
        for recording_sid in stale:
            queue.enqueue(JOB_ARCHIVE, recording_sid)
        missing = archive.analyses.unanalysed() if analyse else []
        for recording_sid in missing:
            queue.enqueue(JOB_ANALYSE, recording_sid)
        if stale or missing:
            log.info("archive.reconciled", archive_jobs=len(stale), analyse_jobs=len(missing))
        return len(stale) + len(missing)

    queue.register(JOB_ARCHIVE, archive_job)
    queue.register(JOB_ANALYSE, analyse_job)
    queue.register_periodic(JOB_RETENTION, retention_job, every_minutes=retention_every_minutes)
    queue.register_periodic(JOB_RECONCILE, reconcile_job, every_minutes=reconcile_every_minutes)
    # A hold set through the CLI or an API reaches the stored versions within a minute.
    queue.register_periodic(JOB_OBJECT_HOLDS, archive.holds.apply_object_holds, every_minutes=1)
    if analyse:
        archive.on_archived.append(lambda recording_sid: queue.enqueue(JOB_ANALYSE, recording_sid))

    def on_recording_completed(
        recording_sid: str, call_sid: str, media_url: str, channels: int
    ) -> None:
        archive.job.note_completed(recording_sid, call_sid, media_url, channels)
        queue.enqueue(JOB_ARCHIVE, recording_sid)

    return on_recording_completed
