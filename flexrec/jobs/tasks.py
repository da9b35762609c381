"""The recording service's jobs on the queue: the service's own job table, and its reconcile."""

from __future__ import annotations

import structlog

from flexrec.config import Settings
from flexrec.jobs.queue import JobQueue
from flexrec.ports import JobRegistry
from flexrec.recording.context import (
    JOB_RECONCILE,
)
from flexrec.recording.service import RecordingService

log = structlog.get_logger(__name__)


def register_recording_jobs(
    queue: JobRegistry,
    service: RecordingService,
    reconcile_every_minutes: int = 1,
    reconcile_at_start: bool = True,
) -> None:
    """Register the recording jobs on `queue` and attach the queue to the service.

    With `reconcile_at_start`, one reconciliation is enqueued now, so whichever consumer starts
    first (`serve` or `worker`) catches up on what happened while nothing was running.
    """

    for name, job in service.jobs().items():
        queue.register(name, job)
    queue.register_periodic(
        JOB_RECONCILE, service.reconciler.reconcile, every_minutes=reconcile_every_minutes
    )
    service.set_queue(queue)
    if reconcile_at_start:
        try:
            queue.enqueue(JOB_RECONCILE)
        except Exception as exc:  # the periodic run catches up; startup must not fail on it
            log.warning("startup reconcile could not be enqueued", error=type(exc).__name__)


def build_queue(settings: Settings) -> JobQueue:
    """The queue named by the settings (SQLite file by default, Redis by URL)."""
    return JobQueue.from_url(settings.storage.resolved_queue_url())
