"""`RecordingService`: turns webhook events into exactly one recording per call leg.

A thin facade over the rooms that do the work, so the web layer and the tests have one object
to call; the queue's jobs are the rooms' own (each room's `jobs()`), and the webhooks go
straight to the rooms that take them (`task_events`, `intake`):

- `task_events` (flexrec.recording.task_events): TaskRouter events, from the task's memo;
- `intake` (flexrec.recording.intake): the other webhook kinds, each in one write transaction;
- `planner` (flexrec.recording.planner): which legs to record, and the fast path after commit:
  starts and what each sets off;
- `starter` (flexrec.recording.starter): start attempts; `links` (flexrec.recording.links):
  the recordings in the tasks' attributes;
- `statuses` (flexrec.recording.recording_status): recording status callbacks stored;
- `pauses` (flexrec.recording.pause): the agent's pause, resume and state;
- `system_pauses` (flexrec.recording.system_pauses): kept pauses applied, auto-resume;
- `recovery` (flexrec.recording.recovery): ask Twilio how a recording ended, catch a task up;
- `reconciler` (flexrec.recording.reconcile): the safety net, `reconcile`;
- `rows` / `states` / `dedup`: how rows merge new facts, the target states, exactly-once marks;
- `views` (flexrec.recording.views): the admin listings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from flexrec.ports import JobSink
from flexrec.recording.background import Background
from flexrec.recording.context import JOB_TASKROUTER_EVENT, Jobs, ServiceContext, utc_now
from flexrec.recording.intake import CompletedCallback, EventIntake
from flexrec.recording.links import LinkWriter
from flexrec.recording.owners import OwnerLease
from flexrec.recording.pause import Actor, PauseController, RecordingState
from flexrec.recording.planner import Planner
from flexrec.recording.policy import RecordingPolicy
from flexrec.recording.reconcile import Reconciler
from flexrec.recording.recording_status import RecordingStatuses
from flexrec.recording.recovery import Recovery
from flexrec.recording.starter import RecordingStarter
from flexrec.recording.system_pauses import SystemPauses
from flexrec.recording.task_events import TaskEvents
from flexrec.recording.views import RecordingView, TaskView, list_recordings, list_tasks
from flexrec.recording.watch import state_fingerprint
from flexrec.twilio.gateway import RecordingGateway, TaskGateway

__all__ = ["Actor", "RecordingService", "RecordingState"]


class RecordingService:
    """Recording orchestration: events in, one recording per leg out, linked into tasks."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        recordings: RecordingGateway,
        tasks: TaskGateway,
        policy: RecordingPolicy,
        public_url: str,
        queue: JobSink | None = None,
        clock: Callable[[], datetime] = utc_now,
        visibility_timeout_s: float = 60.0,
        base_backoff_s: float = 1.0,
        max_backoff_s: float = 300.0,
        inline_attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.ctx = ServiceContext(
            sessions=sessions,
            recordings=recordings,
            tasks=tasks,
            policy=policy,
            public_url=public_url,
            queue=queue,
            clock=clock,
            visibility=timedelta(seconds=visibility_timeout_s),
            base_backoff_s=base_backoff_s,
            max_backoff_s=max_backoff_s,
            inline_attempts=inline_attempts,
            sleep=sleep,
        )
        # Each room takes the rooms below it; a room returns what it leaves to do to the room
        # above, which sequences them (nothing calls back up).
        self.links = LinkWriter(self.ctx)
        self.starter = RecordingStarter(self.ctx)
        self.system_pauses = SystemPauses(self.ctx)
        self.statuses = RecordingStatuses(self.ctx, self.starter, self.links, self.system_pauses)
        self.planner = Planner(
            self.ctx, self.starter, self.links, self.statuses, self.system_pauses
        )
        self.recovery = Recovery(self.ctx, self.planner)
        self.pauses = PauseController(self.ctx, self.recovery)
        self.intake = EventIntake(self.ctx, self.planner, self.recovery, self.statuses, self.links)
        self.task_events = TaskEvents(self.ctx, self.planner, self.system_pauses)
        self.reconciler = Reconciler(
            self.ctx, self.planner, self.recovery, self.intake, self.system_pauses
        )
        # Work this service sets off runs in-process when due (see ServiceContext.schedule);
        # an Event Streams event stays on the queue, where it is durable until handled.
        self.ctx.jobs = {n: j for n, j in self.jobs().items() if n != JOB_TASKROUTER_EVENT}

    # -- wiring -------------------------------------------------------------------------------
    @property
    def policy(self) -> RecordingPolicy:
        """The policy in force."""
        return self.ctx.policy

    def set_queue(self, queue: JobSink | None) -> None:
        """Attach the job queue (built after the service, since its jobs call the service)."""
        self.ctx.queue = queue

    def set_lease(self, lease: OwnerLease | None) -> None:
        """Take claims under this process's owner lease (flexrec.recording.owners)."""
        self.ctx.lease = lease

    def recover_claims(self) -> list[int]:
        """Take back the claims of processes that are gone and start their targets again."""
        return self.reconciler.recover_claims()

    def set_background(self, background: Background | None) -> None:
        """Run follow-up work (attribute writes) on these threads instead of inline."""
        self.ctx.background = background

    def on_recording_completed(self, callback: CompletedCallback) -> None:
        """Register a callback run for every `completed` recording status callback.

        It runs inside the webhook, once per callback delivery (so possibly more than once per
        recording): it must be quick and idempotent, e.g. enqueue an archive job. If it raises,
        the webhook fails and Twilio redelivers the callback.
        """
        self.intake.completed_callbacks.append(callback)

    # -- agent actions ------------------------------------------------------------------------
    def pause(self, task_sid: str, actor: Actor) -> RecordingState:
        """Pause the task's recording (own active task, or supervisor/admin)."""
        return self.pauses.pause(task_sid, actor)

    def resume(self, task_sid: str, actor: Actor) -> RecordingState:
        """Resume the task's recording."""
        return self.pauses.resume(task_sid, actor)

    def state(self, task_sid: str, actor: Actor, *, catch_up: bool = True) -> RecordingState:
        """The task's recording state as the actor may see it (`catch_up=False`: never asks
        TaskRouter, for a long poll's repeated reads)."""
        return self.pauses.state(task_sid, actor, catch_up=catch_up)

    def state_fingerprint(self, task_sid: str, actor: Actor) -> tuple[Any, ...]:
        """A cheap summary of what `state` depends on: unchanged fingerprint, unchanged state
        (the long poll's per-second check; no authorisation, `state` does that)."""
        with self.ctx.sessions() as session:
            return state_fingerprint(session, task_sid, actor.worker_sid)

    # -- jobs ---------------------------------------------------------------------------------
    def jobs(self) -> Jobs:
        """The recording jobs by name, as the rooms that run them list them: the queue runs
        them, and so does this process, when they are due, for work it sets off (`schedule`)."""
        rooms = (
            self.planner,
            self.links,
            self.system_pauses,
            self.reconciler,
            self.planner.search,
            self.intake,
            self.task_events,
        )
        return {name: job for room in rooms for name, job in room.jobs().items()}

    def reconcile(self) -> int:
        """Safety net: re-enqueue what is due or stale, find live tasks with no target."""
        return self.reconciler.reconcile()

    def catch_up_task(self, task_sid: str) -> None:
        """Re-read a task and its reservations from TaskRouter and act on them (lost webhooks)."""
        self.recovery.catch_up_task(task_sid)

    # -- admin views --------------------------------------------------------------------------
    def list_recordings(self, **filters: Any) -> list[RecordingView]:
        """Recordings, newest first (filters: status, direction, queue, since, until,
        task_sid, call_sid, limit, offset)."""
        with self.ctx.sessions() as session:
            return list_recordings(session, **filters)

    def list_tasks(self, **filters: Any) -> list[TaskView]:
        """Tasks, newest first (same filters as `list_recordings`)."""
        with self.ctx.sessions() as session:
            return list_tasks(session, **filters)
