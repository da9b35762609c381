"""The SQLite queue's doorbell: an enqueue wakes an idle consumer, here or in another process."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from flexrec.jobs import queue as queue_module
from flexrec.jobs.doorbell import Doorbell
from flexrec.jobs.queue import JobQueue

NEVER_S = 3600.0  # a poll this far off never comes within a test: only a ring wakes


def test_a_ring_from_another_process_wakes_one_waiting_thread(tmp_path: Path) -> None:
    consumer, producer = Doorbell(tmp_path / "bells"), Doorbell(tmp_path / "bells")
    consumer.listen()
    try:
        woke: list[bool] = []
        waiter = threading.Thread(target=lambda: woke.append(consumer.wait(NEVER_S)))
        waiter.start()
        producer.ring()  # another instance: only the socket carries it
        waiter.join(30)
        assert woke == [True]
        assert consumer.wait(0) is False  # one ring, taken once
    finally:
        consumer.stop()


def test_a_ring_before_the_wait_is_kept_for_it(tmp_path: Path) -> None:
    bell = Doorbell(tmp_path / "bells")
    bell.ring()  # this process's own enqueue, no thread waiting yet
    assert bell.wait(NEVER_S) is True


def test_the_socket_of_a_consumer_that_died_is_removed_by_the_next_ring(tmp_path: Path) -> None:
    folder = tmp_path / "bells"
    folder.mkdir()
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dead.bind(str(folder / "1-dead"))
    dead.close()  # a kill -9 leaves the file, nobody reading it
    Doorbell(folder).ring()
    assert list(folder.iterdir()) == []


def test_a_stop_wakes_every_waiter_and_leaves_no_socket(tmp_path: Path) -> None:
    bell = Doorbell(tmp_path / "bells")
    bell.listen()
    woke: list[bool] = []
    waiters = [threading.Thread(target=lambda: woke.append(bell.wait(NEVER_S))) for _ in range(3)]
    for waiter in waiters:
        waiter.start()
    bell.stop()
    for waiter in waiters:
        waiter.join(30)
    assert woke == [False] * 3
    assert list((tmp_path / "bells").iterdir()) == []


def test_a_job_enqueued_in_another_process_runs_without_waiting_for_a_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queue_module, "BELL_POLL_S", NEVER_S)
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    done = threading.Event()
    consumer = JobQueue.from_url(url)  # the worker
    consumer.register("job", lambda: done.set())
    consumer.start_consumer(workers=2)
    try:
        # The consumer threads find the queue empty and go to sleep (for an hour).
        bell = consumer.bell
        assert bell is not None
        while bell.waiting < 2:
            time.sleep(0.01)
        producer = JobQueue.from_url(url)  # the service: its own huey, storage and bell
        producer.register("job", lambda: None)
        producer.enqueue("job")
        assert done.wait(30), "the job waited for a poll an hour away"
    finally:
        consumer.stop()


def test_a_queue_that_runs_jobs_at_once_has_no_bell() -> None:
    assert JobQueue(queue_module.make_huey("memory://")).bell is None
