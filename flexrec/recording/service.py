"""`RecordingService`: turns webhook events into exactly one recording per call leg.

It builds the rooms that do the work, each from the rooms below it, and joins their queue jobs
(each room's `jobs()`); callers go straight to the room they need: the webhooks to
`task_events` and `intake`, the agent API to `pauses`, the safety net to `reconciler`. A room
returns what it leaves to do to the room that called it (nothing is plugged in after it is
built, tests/unit/recording/test_recording_rooms.py):

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
from flexrec.recording.intake import EventIntake
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
from flexrec.twilio.gateway import RecordingGateway, TaskGateway

__all__ = ["Actor", "RecordingService", "RecordingState"]


class RecordingService:
    """The recording rooms, built and joined: events in, one recording per leg out, linked."""

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

    def set_background(self, background: Background | None) -> None:
        """Run follow-up work (attribute writes) on these threads instead of inline."""
        self.ctx.background = background

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
