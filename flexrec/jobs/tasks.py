"""The recording service's jobs: thin wrappers that load a row id and call the service."""

from __future__ import annotations

from typing import Any

import structlog

from flexrec.config import Settings
from flexrec.jobs.queue import JobQueue
from flexrec.ports import JobRegistry
from flexrec.recording.context import (
    JOB_APPLY_PAUSE,
    JOB_AUTO_RESUME,
    JOB_FIND_LEGS,
    JOB_LINK,
    JOB_RECONCILE,
    JOB_REFRESH,
    JOB_START,
    JOB_TASKROUTER_EVENT,
)
from flexrec.recording.service import RecordingService
from flexrec.webhooks.events import TaskRouterEvent

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

    def start_recording(target_id: int) -> str:
        return service.start_target(int(target_id))

    def link_attributes(write_id: int) -> str:
        return service.link_attributes(int(write_id))

    def auto_resume(task_sid: str, worker_sid: str | None = None) -> int:
        return service.auto_resume(task_sid, worker_sid)

    def refresh_recording(target_id: int, attempt: int = 1) -> str:
        return service.refresh_target(int(target_id), int(attempt))

    def apply_pause(target_id: int) -> str:
        return service.apply_pending_pause(int(target_id))

    def reconcile() -> int:
        return service.reconcile()

    def taskrouter_event(fields: dict[str, Any]) -> None:
        service.handle_taskrouter_event(TaskRouterEvent(**fields))

    def find_legs(task_sid: str, attempt: int = 1) -> str:
        return service.find_legs(str(task_sid), int(attempt))

    queue.register(JOB_START, start_recording)
    queue.register(JOB_LINK, link_attributes)
    queue.register(JOB_AUTO_RESUME, auto_resume)
    queue.register(JOB_REFRESH, refresh_recording)
    queue.register(JOB_APPLY_PAUSE, apply_pause)
    queue.register(JOB_TASKROUTER_EVENT, taskrouter_event)
    queue.register(JOB_FIND_LEGS, find_legs)
    queue.register_periodic(JOB_RECONCILE, reconcile, every_minutes=reconcile_every_minutes)
    service.set_queue(queue)
    if reconcile_at_start:
        try:
            queue.enqueue(JOB_RECONCILE)
        except Exception as exc:  # the periodic run catches up; startup must not fail on it
            log.warning("startup reconcile could not be enqueued", error=type(exc).__name__)


def build_queue(settings: Settings) -> JobQueue:
    """The queue named by the settings (SQLite file by default, Redis by URL)."""
    return JobQueue.from_url(settings.storage.resolved_queue_url())
