"""The job queue as the rest of flexrec sees it: one protocol per side, written once.

`flexrec.jobs.queue.JobQueue` (huey) and `InlineJobQueue` (tests) implement both; the
recording service only puts work in (`JobSink`), the wiring of the recording and archive jobs
also registers them (`JobRegistry`). Kept at the bottom of the package, importing nothing, so
any part may depend on it without depending on the queue's implementation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

Job = Callable[..., Any]


class JobSink(Protocol):
    """Where follow-up work goes (the durable queue, or a list in tests)."""

    def enqueue(self, name: str, *args: Any, delay_s: float = 0.0) -> None:
        """Run job `name` with `args` after `delay_s` seconds."""
        ...


class JobRegistry(JobSink, Protocol):
    """A queue jobs are registered on, then enqueued by name."""

    def register(self, name: str, fn: Job, *, retries: int = 3, retry_delay_s: int = 10) -> None:
        """Register job `name` (retried `retries` times, `retry_delay_s` apart, on error)."""
        ...

    def register_periodic(self, name: str, fn: Callable[[], Any], every_minutes: int = 1) -> None:
        """Register a job run every `every_minutes` minutes."""
        ...
