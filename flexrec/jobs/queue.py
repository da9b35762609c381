"""The job queue: huey under a small interface (`register`, `enqueue`, consumers).

SqliteHuey by default, RedisHuey for `redis://` URLs, and two in-memory variants for tests:
`memory_queue()` (huey's immediate mode: runs jobs at once, keeps delayed ones unrun) and
`InlineJobQueue` (collects jobs; the test decides when to run them).

Durability: huey loses a job that was running when its process was killed, so the queue only
ever carries row ids; the database row is the truth and reconciliation re-enqueues rows whose
claim went stale. Nothing connects at import time: tasks are registered on the instance.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog
from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey, crontab  # loaded by flexrec.jobs
from huey.consumer import Consumer, Worker
from huey.storage import SqliteStorage
from prometheus_client import Summary

from flexrec.jobs.doorbell import Doorbell
from flexrec.ports import Job

log = structlog.get_logger(__name__)

STOP_WAIT_S = 5.0  # how long a stop waits for the in-process consumer's running jobs
# With a doorbell (the SQLite queue) an enqueue wakes a consumer: polling is only the safety net
# for a lost ring, so an idle thread looks first after this long (huey's own: 0.1 s), then
# 1.15x longer each empty look, up to huey's 10 s.
BELL_POLL_S = 1.0

JOB_CPU = Summary(
    "flexrec_job_cpu_seconds",
    "CPU time of the thread that ran a queue job (waits for the GIL not counted), by job name.",
    ["job"],
)


def timed_job(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn`, its thread's CPU time observed on `JOB_CPU` under `name` whether it fails or not."""
    cpu = JOB_CPU.labels(name)

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            cpu.observe(time.thread_time() - started)

    return run


def make_huey(url: str, name: str = "flexrec") -> Huey:
    """A huey instance for `sqlite:///path`, `redis://...` or `memory://` (immediate mode)."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        path = Path(url.removeprefix("sqlite:///").removeprefix("sqlite://"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(name, filename=str(path), results=False, timeout=30)
    if scheme in ("redis", "rediss", "unix"):
        return RedisHuey(name, url=url, results=False)
    if scheme == "memory":
        return MemoryHuey(name, immediate=True, results=False)
    raise ValueError(f"unsupported queue URL scheme {scheme!r} (use sqlite:///, redis://)")


def periodic_schedule(every_minutes: int) -> Callable[[Any], bool]:
    """huey's crontab for "every N minutes": minutes within the hour, else whole hours or days.

    (`minute="*/N"` alone matches only minute 0 once N is 60 or more: hourly, whatever N.)
    """
    if every_minutes < 1:
        raise ValueError("a periodic job runs at least every minute")
    schedule: Callable[[Any], bool]
    if every_minutes < 60:
        schedule = crontab(minute=f"*/{every_minutes}")
    elif every_minutes % 1440 == 0:
        schedule = crontab(minute="0", hour="0", day=f"*/{every_minutes // 1440}")
    elif every_minutes % 60 == 0:
        schedule = crontab(minute="0", hour=f"*/{every_minutes // 60}")
    else:
        raise ValueError(f"every {every_minutes} minutes is not whole hours or days")
    return schedule


class _BellWorker(Worker):  # type: ignore[misc] # huey is untyped
    """huey's worker thread, sleeping until the doorbell rings or its poll is due."""

    delay: float
    max_delay: float
    backoff: float

    def __init__(self, bell: Doorbell, **options: Any) -> None:
        super().__init__(**options)
        self.bell = bell

    def sleep(self) -> None:
        self.delay = min(self.delay, self.max_delay)
        self.bell.wait(self.delay)
        self.delay *= self.backoff


class _BellConsumer(Consumer):  # type: ignore[misc] # huey is untyped
    """huey's consumer whose worker threads wake on the doorbell."""

    def __init__(self, huey: Huey, bell: Doorbell, **options: Any) -> None:
        self.bell = bell  # before huey's constructor makes the workers
        super().__init__(huey, initial_delay=BELL_POLL_S, **options)

    def _create_worker(self) -> Worker:
        return _BellWorker(
            self.bell,
            huey=self.huey,
            stop_flag=self.stop_flag,
            default_delay=self.default_delay,
            max_delay=self.max_delay,
            backoff=self.backoff,
            max_tasks=self.max_tasks,
        )

    def start(self) -> None:
        self.bell.listen()
        super().start()

    def stop(self, graceful: bool = False) -> None:
        self.stop_flag.set()
        self.bell.stop()  # sleeping workers see the flag now, not at their next poll
        super().stop(graceful)


def _doorbell(huey: Huey) -> Doorbell | None:
    """The bell of a SQLite queue, rung by every write of a job (ours, the scheduler's moves of
    due jobs, huey's retries); None for a queue whose reads block (Redis) or run at once."""
    storage = huey.storage
    if not isinstance(storage, SqliteStorage):
        return None
    bell = Doorbell(Path(f"{storage.filename}.bells"))
    write = storage.enqueue

    def enqueue(data: bytes, priority: float | None = None) -> None:
        write(data, priority)
        bell.ring()  # after the write: a consumer woken now finds the row

    storage.enqueue = enqueue
    return bell


class JobQueue:
    """Named jobs over one huey instance, plus an in-process or standalone consumer."""

    def __init__(self, huey: Huey) -> None:
        self.huey = huey
        self.bell = _doorbell(huey)
        self._tasks: dict[str, Any] = {}
        self._consumer: Consumer | None = None
        self._lock = threading.Lock()

    def _create_consumer(self, **options: Any) -> Consumer:
        if self.bell is None:
            return self.huey.create_consumer(**options)
        return _BellConsumer(self.huey, self.bell, **options)

    @classmethod
    def from_url(cls, url: str, name: str = "flexrec") -> JobQueue:
        """Build the queue for a storage URL (see `make_huey`)."""
        return cls(make_huey(url, name))

    def register(self, name: str, fn: Job, *, retries: int = 3, retry_delay_s: int = 10) -> None:
        """Make `fn` runnable as job `name` (huey retries it if it raises)."""
        self._tasks[name] = self.huey.task(name=name, retries=retries, retry_delay=retry_delay_s)(
            timed_job(name, fn)
        )

    def register_periodic(self, name: str, fn: Callable[[], Any], every_minutes: int = 1) -> None:
        """Run `fn` every `every_minutes` minutes while a consumer runs (and allow enqueue)."""
        self._tasks[name] = self.huey.periodic_task(periodic_schedule(every_minutes), name=name)(
            timed_job(name, fn)
        )

    @property
    def names(self) -> tuple[str, ...]:
        """Registered job names."""
        return tuple(self._tasks)

    def enqueue(self, name: str, *args: Any, delay_s: float = 0.0) -> None:
        """Run job `name(*args)` now or after `delay_s` seconds."""
        task = self._tasks.get(name)
        if task is None:
            raise KeyError(f"no job named {name!r}")
        if delay_s > 0:
            task.schedule(args=args, delay=delay_s)
        else:
            task(*args)

    def start_consumer(self, workers: int = 4) -> None:
        """Run huey's thread workers and scheduler inside this process (`flexrec serve`)."""
        with self._lock:
            if self._consumer is not None:
                return
            # A stop waits for running jobs only so long: a job against a Twilio that hangs
            # (a reconcile's lists take four tries of the full timeout each) would hold a
            # SIGTERM for a minute. Workers are daemon threads, so the process then exits
            # under them; what a cut job had not done its rows still say, for the next start.
            consumer = self._create_consumer(
                workers=workers,
                worker_type="thread",
                periodic=True,
                check_worker_health=False,
                shutdown_timeout=STOP_WAIT_S,
            )
            # The host process (uvicorn) owns signal handling; huey must not replace it.
            consumer._set_signal_handlers = lambda: None
            consumer.start()
            self._consumer = consumer
        log.info("queue consumer started", workers=workers)

    def stop(self) -> None:
        """Stop the in-process consumer, letting running jobs finish for up to STOP_WAIT_S."""
        with self._lock:
            consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.stop(graceful=True)
            log.info("queue consumer stopped")

    def run_consumer(self, workers: int = 4) -> None:
        """Block running a consumer with signal handling (`flexrec worker`)."""
        consumer = self._create_consumer(workers=workers, worker_type="thread", periodic=True)
        consumer.run()


def memory_queue() -> JobQueue:
    """A queue in huey's immediate mode: jobs run synchronously inside `enqueue`."""
    return JobQueue(make_huey("memory://"))


@dataclass
class QueuedJob:
    """A job waiting in an `InlineJobQueue`."""

    name: str
    args: tuple[Any, ...]
    delay_s: float


class InlineJobQueue:
    """A test queue: collects jobs and runs them when asked, ignoring delays."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self.pending: list[QueuedJob] = []
        self.history: list[QueuedJob] = []

    def register(self, name: str, fn: Job, **_: Any) -> None:
        """Make `fn` runnable as job `name`."""
        self._jobs[name] = fn

    def register_periodic(self, name: str, fn: Callable[[], Any], every_minutes: int = 1) -> None:
        """Periodic jobs are run only when a test enqueues them."""
        self._jobs[name] = fn

    @property
    def names(self) -> tuple[str, ...]:
        """Registered job names."""
        return tuple(self._jobs)

    def enqueue(self, name: str, *args: Any, delay_s: float = 0.0) -> None:
        """Remember the job."""
        job = QueuedJob(name, args, delay_s)
        self.pending.append(job)
        self.history.append(job)

    def run_all(self, max_jobs: int = 1000) -> int:
        """Run pending jobs (and the jobs they enqueue) in order; returns how many ran."""
        ran = 0
        while self.pending and ran < max_jobs:
            job = self.pending.pop(0)
            fn = self._jobs.get(job.name)
            if fn is None:
                raise KeyError(f"no job named {job.name!r}")
            fn(*job.args)
            ran += 1
        return ran

    def start_consumer(self, workers: int = 4) -> None:
        """Nothing to start."""

    def stop(self) -> None:
        """Nothing to stop."""
