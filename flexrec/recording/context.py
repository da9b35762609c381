"""What every part of the recording service shares: storage, gateways, policy, clock, queue."""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.orm import Session, sessionmaker

from flexrec.ports import JobSink
from flexrec.recording.background import Background
from flexrec.recording.memory import RecentTimes
from flexrec.recording.policy import RecordingPolicy
from flexrec.recording.seen_calls import SeenCalls
from flexrec.recording.task_memo import TaskMemos
from flexrec.recording.task_versions import TaskRevisions
from flexrec.twilio.gateway import RecordingGateway, TaskGateway
from flexrec.webhooks import paths
from flexrec.webhooks.paths import webhook_url

if TYPE_CHECKING:
    from flexrec.recording.owners import OwnerLease

log = structlog.get_logger(__name__)

# Job names the queue must route to the service (see flexrec.jobs.tasks).
JOB_START = "recording.start"  # args: target id
JOB_LINK = "recording.link"  # args: attribute_writes id
JOB_AUTO_RESUME = "recording.auto_resume"  # args: task SID, worker SID or None
JOB_RECONCILE = "recording.reconcile"
JOB_REFRESH = "recording.refresh"  # args: target id, attempt number
JOB_APPLY_PAUSE = "recording.apply_pause"  # args: target id
# args: a TaskRouterEvent's fields (dict). Event Streams batches are acknowledged once each
# event is queued; a job lost with a killed worker is caught up by reconcile, like a lost
# webhook (TaskRouter still holds the task).
JOB_TASKROUTER_EVENT = "recording.taskrouter_event"
JOB_FIND_LEGS = "recording.find_legs"  # args: task SID, attempt number
JOB_SETTLE = "recording.settle"  # args: target id (its recording ended; was the call live?)
# Jobs on the starts' own lane (Background): a start and what holds one up.
FIRST_LANE_JOBS = frozenset({JOB_START, JOB_FIND_LEGS, JOB_APPLY_PAUSE})


# A room's queue jobs by name: each room lists the jobs it runs (`jobs()`), the service joins
# them, so a new job is its name above and its entry in the room that does the work.
Jobs = dict[str, Callable[..., object]]


def utc_now() -> datetime:
    """The current time, time-zone aware."""
    return datetime.now(UTC)


@dataclass
class ServiceContext:
    """Dependencies and tunables of the recording service."""

    sessions: sessionmaker[Session]
    recordings: RecordingGateway
    tasks: TaskGateway
    policy: RecordingPolicy
    public_url: str
    queue: JobSink | None = None
    clock: Callable[[], datetime] = utc_now
    visibility: timedelta = timedelta(seconds=60)
    base_backoff_s: float = 1.0
    inline_attempts: int = 4  # tries inside one start attempt before backing off
    # Pauses before the second, third, ... try inside one attempt after a blip (429, 5xx,
    # timeout). The first retry goes at once: a blip seldom repeats, and every real second a
    # start waits is a second of the call unrecorded (a 0.2 s, 0.4 s ladder once cost 6 s of a
    # x10 demo's call). Past the last try the attempt backs off exponentially (`backoff_s`),
    # so a sustained outage costs a few requests per backoff period, never a storm.
    inline_pauses_s: tuple[float, ...] = (0.0, 0.05, 0.1)
    sleep: Callable[[float], None] = time.sleep
    max_backoff_s: float = 300.0
    attribute_attempts: int = 5
    rng: random.Random = field(default_factory=random.Random)
    background: Background | None = None  # follow-up work after a webhook; None: inline
    # This process's owner id in claims, kept alive by heartbeats; None: claims name no owner
    # and only the visibility window frees them (unit tests, one-off commands).
    lease: OwnerLease | None = None
    # The recording jobs by name, run in-process by `schedule` when a `Background` is set.
    jobs: dict[str, Callable[..., object]] = field(default_factory=dict)
    # Tasks whose attributes this process saw lately (an event's or a fetch's): reconcile
    # fetches the other live tasks with links to check them (all of them after a restart).
    attributes_seen: RecentTimes = field(default_factory=RecentTimes)
    # What this process knows each task's rows hold (flexrec.recording.task_memo).
    memos: TaskMemos = field(default_factory=TaskMemos)
    # The newest attributes and version of each task seen, for link writes in one request
    # (flexrec.recording.task_versions).
    revisions: TaskRevisions = field(default_factory=TaskRevisions)
    # Legs' numbers from call status callbacks and fetches: a leg search's facts (seen_calls).
    calls: SeenCalls = field(default_factory=SeenCalls)

    @property
    def owner_id(self) -> str | None:
        """The owner id claims are taken under now (None without a lease)."""
        return None if self.lease is None else self.lease.owner_id

    def now(self) -> datetime:
        """The service clock."""
        return self.clock()

    def pause_before_retry(self, tries: int) -> None:
        """Wait before the next try inside one attempt, after `tries` failed ones (the first
        retry does not wait)."""
        pauses = self.inline_pauses_s
        pause = pauses[min(tries, len(pauses)) - 1] if pauses and tries > 0 else 0.0
        if pause > 0:
            self.sleep(pause)

    def backoff_s(self, attempts: int) -> float:
        """Exponential backoff with jitter (half to full of the capped exponential delay)."""
        ceiling = min(self.max_backoff_s, self.base_backoff_s * 2 ** max(0, attempts - 1))
        return float(ceiling * (0.5 + 0.5 * self.rng.random()))

    def schedule(self, name: str, *args: Any, delay_s: float = 0.0) -> None:
        """Follow-up work: run in this process when due (a `Background` and the job known to
        `jobs`), else enqueued; either way its intent is a row reconciliation finds if it is
        lost (a crash, a failed enqueue)."""
        job = self.jobs.get(name)
        if self.background is not None and job is not None:
            work = functools.partial(job, *args)
            self.background.submit_at(delay_s, work, first=name in FIRST_LANE_JOBS)
            return
        if self.queue is None:
            return
        try:
            self.queue.enqueue(name, *args, delay_s=delay_s)
        except Exception:  # the row in the database stays due; reconcile() re-enqueues it
            log.exception("enqueue failed", job=name)

    def after(self, work: Callable[[], object], *, first: bool = False) -> None:
        """Run follow-up work once the current webhook is answered (inline without threads);
        `first`: a start, on its own lane (Background)."""
        if self.background is None:
            work()
        else:
            self.background.submit(work, first=first)

    @property
    def status_callback_url(self) -> str:
        """Where Twilio sends our recordings' status callbacks."""
        return webhook_url(self.public_url, paths.RECORDING_STATUS)
