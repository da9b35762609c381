"""The job queue: registration, enqueue with delay, inline/immediate runs, a real consumer."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from flexrec.jobs.queue import InlineJobQueue, JobQueue, make_huey, memory_queue


def test_inline_queue_collects_and_runs_in_order() -> None:
    queue = InlineJobQueue()
    seen: list[tuple[str, int]] = []
    queue.register("a", lambda n: seen.append(("a", n)))
    queue.register("b", lambda n: (seen.append(("b", n)), queue.enqueue("a", n + 1)))
    queue.enqueue("b", 1, delay_s=30)
    queue.enqueue("a", 0)
    assert seen == []
    assert queue.run_all() == 3
    assert seen == [("b", 1), ("a", 0), ("a", 2)]
    assert [j.delay_s for j in queue.history] == [30, 0, 0]


def test_immediate_queue_runs_jobs_inside_enqueue() -> None:
    queue = memory_queue()
    seen: list[int] = []
    queue.register("job", seen.append)
    queue.enqueue("job", 7)
    assert seen == [7]
    with pytest.raises(KeyError):
        queue.enqueue("missing")


def test_unknown_url_scheme_is_rejected() -> None:
    with pytest.raises(ValueError, match="scheme"):
        make_huey("ftp://x")


def test_sqlite_queue_survives_a_restart_and_runs_on_the_consumer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'q' / 'queue.db'}"
    first = JobQueue.from_url(url)
    first.register("job", lambda n: None)
    first.enqueue("job", 1)  # enqueued, no consumer: stays stored
    first.enqueue("job", 2, delay_s=3600)  # carries its ETA; the consumer holds it back
    assert first.huey.pending_count() == 2

    # A new process: the same file, jobs registered again, a consumer runs the stored job.
    done = threading.Event()
    got: list[int] = []
    second = JobQueue.from_url(url)

    def job(n: int) -> None:
        got.append(n)
        done.set()

    second.register("job", job)
    second.start_consumer(workers=2)
    try:
        assert done.wait(30), "the stored job never ran"
    finally:
        second.stop()
    assert got == [1]  # the delayed job waits for its time
