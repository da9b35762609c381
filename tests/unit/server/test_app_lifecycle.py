"""create_app builds services only at startup, runs the consumer with the lifespan, closes."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
from server_harness import FakeTokens, StubRecording, TestClient, make_settings

import flexrec.app.factory as app_module
from flexrec.app.factory import create_app
from flexrec.app.services import queue_check
from flexrec.cli.serve import watch_parent
from flexrec.server.services import Services
from flexrec.webhooks.signature import SignatureVerifier


class StubQueue:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def start_consumer(self, workers: int) -> None:
        self.events.append(("start", workers))

    def stop(self) -> None:
        self.events.append("stop")


def make_services(queue: StubQueue, run_consumer: bool, log: list[str]) -> Services:
    return Services(
        recording=StubRecording(),
        tokens=FakeTokens(),
        verifier=SignatureVerifier("x"),
        queue=queue,
        run_consumer=run_consumer,
        consumer_workers=3,
        closers=[lambda: log.append("engine"), lambda: log.append("tokens")],
    )


def test_services_are_built_at_startup_not_at_creation(monkeypatch: pytest.MonkeyPatch) -> None:
    queue, closed = StubQueue(), []
    built: list[Any] = []

    def fake_build(settings: Any) -> Services:
        built.append(settings)
        return make_services(queue, True, closed)

    monkeypatch.setattr(app_module, "build_services", fake_build)
    app = create_app(make_settings())
    assert built == []
    with TestClient(app) as client:
        assert len(built) == 1
        assert queue.events == [("start", 3)]
        assert client.get("/healthz").status_code == 200
    assert queue.events == [("start", 3), "stop"]
    assert closed == ["tokens", "engine"]  # reverse order of creation


def test_given_services_without_consumer_are_not_closed_by_app() -> None:
    queue, closed = StubQueue(), []
    services = make_services(queue, False, closed)
    with TestClient(create_app(make_settings(), services)):
        pass
    assert queue.events == []
    assert closed == []
    services.close()
    services.close()  # idempotent
    assert closed == ["tokens", "engine"]


def test_a_web_process_app_closes_the_services_it_was_handed() -> None:
    # `flexrec serve --processes N`: each web process owns its services (background threads,
    # connections) though they were built before the app.
    queue, closed = StubQueue(), []
    services = make_services(queue, False, closed)
    with TestClient(create_app(make_settings(), services, owns_services=True)) as client:
        assert client.get("/healthz").status_code == 200
        assert closed == []
    assert queue.events == []  # no consumer here: the supervisor runs it
    assert closed == ["tokens", "engine"]


def test_a_web_process_leaves_once_its_supervisor_is_gone() -> None:
    parents = iter([100, 100, 1])  # reparented to init: the supervisor died
    gone = threading.Event()
    watcher = watch_parent(100, gone.set, every_s=0.001, getppid=lambda: next(parents))
    watcher.join(timeout=5)
    assert gone.is_set()


def test_a_web_process_stays_while_its_supervisor_lives() -> None:
    gone = threading.Event()
    watch_parent(os.getppid(), gone.set, every_s=0.001)
    assert not gone.wait(0.05)


def test_queue_check_uses_ping_or_huey() -> None:
    pinged: list[str] = []

    class WithPing:
        def ping(self) -> None:
            pinged.append("ping")

    class Huey:
        def pending_count(self) -> int:
            raise ConnectionError("down")

    class WithHuey:
        huey = Huey()

    queue_check(WithPing())()
    assert pinged == ["ping"]
    with pytest.raises(ConnectionError):
        queue_check(WithHuey())()
