"""The job queue: registration, enqueue with delay, inline/immediate runs, a real consumer."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from testkit import assert_recorded_exactly_once

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


def test_a_stop_does_not_wait_for_a_job_that_hangs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A reconcile against a Twilio that never answers runs for a minute: the SIGTERM that
    # stops `flexrec serve` must not wait for it (its rows say what it had not done).
    monkeypatch.setattr("flexrec.jobs.queue.STOP_WAIT_S", 0.2)
    queue = JobQueue.from_url(f"sqlite:///{tmp_path / 'queue.db'}")
    running, release = threading.Event(), threading.Event()

    def hangs() -> None:
        running.set()
        release.wait(120)

    queue.register("hangs", hangs)
    queue.start_consumer(workers=1)
    try:
        queue.enqueue("hangs")
        assert running.wait(30), "the job never started"
        stopping = threading.Thread(target=queue.stop, daemon=True)
        stopping.start()
        stopping.join(60)
        assert not stopping.is_alive(), "stop() waited for the hanging job"
        assert not release.is_set()  # the job was still running when stop() returned
    finally:
        release.set()


def test_recording_jobs_are_registered_and_reconcile_is_queued_at_start(tmp_path: Path) -> None:
    from sim_twilio import SimTwilio, fake_sid

    from flexrec.db.base import make_engine, make_session_factory
    from flexrec.db.migrate import upgrade
    from flexrec.jobs.tasks import register_recording_jobs
    from flexrec.recording.policy import RecordingPolicy
    from flexrec.recording.service import RecordingService

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    twilio = SimTwilio()
    call = fake_sid("CA", 1)
    twilio.add_call(call)
    twilio.add_task(fake_sid("WT", 1), {"call_sid": call}, assignment_status="assigned")
    service = RecordingService(
        make_session_factory(engine), twilio, twilio, RecordingPolicy(), "https://x"
    )
    queue = InlineJobQueue()
    register_recording_jobs(queue, service)
    assert set(queue.names) == {
        "recording.start", "recording.link", "recording.auto_resume", "recording.refresh",
        "recording.apply_pause", "recording.reconcile", "recording.taskrouter_event",
        "recording.find_legs", "recording.settle",
    }  # fmt: skip
    assert [j.name for j in queue.pending] == ["recording.reconcile"]
    queue.run_all()  # startup reconcile finds the live task, then the start job records it
    assert_recorded_exactly_once(twilio, call)
    engine.dispose()


def test_each_job_run_observes_its_threads_cpu_time_even_when_it_fails() -> None:
    from prometheus_client import REGISTRY

    from flexrec.jobs.queue import timed_job

    def runs(name: str) -> float:
        return REGISTRY.get_sample_value("flexrec_job_cpu_seconds_count", {"job": name}) or 0.0

    def busy(fail: bool) -> None:
        sum(range(200_000))  # some CPU to observe
        if fail:
            raise RuntimeError("boom")

    queue = memory_queue()
    queue.register("cpu-timed", busy)
    queue.enqueue("cpu-timed", False)
    assert runs("cpu-timed") == 1
    spent = REGISTRY.get_sample_value("flexrec_job_cpu_seconds_sum", {"job": "cpu-timed"})
    assert spent is not None and spent > 0
    with pytest.raises(RuntimeError):
        timed_job("cpu-timed-failing", busy)(True)
    assert runs("cpu-timed-failing") == 1
