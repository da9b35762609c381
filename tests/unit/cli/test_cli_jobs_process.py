"""`flexrec serve`'s jobs process: the queue's jobs in a supervised, niced worker process."""

from __future__ import annotations

import os
import subprocess
import threading
from typing import Any

from flexrec.cli.jobs_process import METRICS_FD_ENV, SUPERVISOR_ENV, JobsProcess, worker_argv


class _Child:
    """A fake worker process: it runs until it is told to exit or is terminated."""

    def __init__(self, argv: list[str], env: dict[str, str], pass_fds: tuple[int, ...]) -> None:
        self.argv, self.env, self.pass_fds = argv, env, pass_fds
        self.pid = 4000 + len(argv)
        self.exited = threading.Event()
        self.code: int | None = None
        self.terminated = False

    def exit(self, code: int) -> None:
        self.code = code
        self.exited.set()

    def wait(self, timeout: float | None = None) -> int:
        if not self.exited.wait(timeout):
            raise subprocess.TimeoutExpired(self.argv, timeout or 0.0)
        return self.code if self.code is not None else 0

    def poll(self) -> int | None:
        return self.code

    def terminate(self) -> None:
        self.terminated = True
        self.exit(-15)

    def kill(self) -> None:
        self.exit(-9)


class _Spawner:
    def __init__(self) -> None:
        self.children: list[_Child] = []
        self.spawned = threading.Condition()

    def __call__(self, argv: list[str], env: dict[str, str], pass_fds: tuple[int, ...]) -> Any:
        child = _Child(argv, env, pass_fds)
        with self.spawned:
            self.children.append(child)
            self.spawned.notify_all()
        return child

    def wait_for(self, count: int) -> bool:
        with self.spawned:
            return self.spawned.wait_for(lambda: len(self.children) >= count, timeout=10)


def test_the_worker_runs_every_queue_job_at_a_lower_priority() -> None:
    argv = worker_argv(workers=4, nice=10)
    assert argv[:3] == [argv[0], "-n", "10"] and argv[0].endswith("nice")
    assert argv[-3:] == ["worker", "--workers", "4"]


def test_the_worker_knows_its_service_and_comes_back_when_it_exits_unasked() -> None:
    spawn = _Spawner()
    jobs = JobsProcess(["flexrec", "worker"], spawn=spawn, restart_delays_s=(0.0,))
    jobs.start()
    assert spawn.wait_for(1)
    first = spawn.children[0]
    # It leaves by itself when this process is gone (it watches the pid it is given).
    assert first.env[SUPERVISOR_ENV] == str(os.getpid())
    # Its metrics socket: the same one for every worker started, so the port never changes.
    assert first.env[METRICS_FD_ENV] == str(first.pass_fds[0])
    first.exit(1)  # a crash: the queue's jobs wait until it is back
    assert spawn.wait_for(2)
    assert jobs.pid == spawn.children[1].pid
    assert spawn.children[1].pass_fds == first.pass_fds
    jobs.stop()
    assert spawn.children[1].terminated  # asked to stop: its running jobs finish first
    assert len(spawn.children) == 2  # a stopped worker is not started again
    assert jobs.starts == 2


def test_a_worker_that_will_not_stop_is_killed() -> None:
    spawn = _Spawner()

    class Stubborn(_Child):
        def terminate(self) -> None:
            self.terminated = True  # ignores it

    def stubborn(argv: list[str], env: dict[str, str], pass_fds: tuple[int, ...]) -> Any:
        child = Stubborn(argv, env, pass_fds)
        spawn.children.append(child)
        return child

    jobs = JobsProcess(["flexrec", "worker"], spawn=stubborn)
    jobs.start()
    jobs.stop(timeout_s=0.01)
    assert spawn.children[0].code == -9


def test_serve_takes_the_jobs_apart_unless_asked_not_to(monkeypatch: Any) -> None:
    from typer.testing import CliRunner

    from flexrec.cli import serve
    from flexrec.cli.root import app

    asked: list[dict[str, Any]] = []
    monkeypatch.setattr(serve, "run_service", lambda **kwargs: asked.append(kwargs))
    runner = CliRunner()
    assert runner.invoke(app, ["serve"]).exit_code == 0
    assert runner.invoke(app, ["serve", "--jobs-process"]).exit_code == 0
    assert runner.invoke(app, ["serve", "--jobs-nice", "19"]).exit_code == 0
    assert runner.invoke(app, ["serve", "--jobs-in-process"]).exit_code == 0
    assert [a["jobs_nice"] for a in asked] == [10, 10, 19, None]
    assert all(a["consumer_workers"] == 4 for a in asked)


def test_the_worker_serves_its_metrics_on_the_socket_its_service_opened() -> None:
    import socket
    import urllib.request

    from prometheus_client import CollectorRegistry, Summary

    from flexrec.cli.jobs_process import serve_metrics

    registry = CollectorRegistry()
    Summary("flexrec_job_cpu_seconds", "a job's CPU", registry=registry).observe(0.5)
    listening = socket.create_server(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    server = serve_metrics(os.dup(listening.fileno()), registry)  # as inherited by the child
    listening.close()  # the service's copy may close: the worker's keeps serving
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as answer:
            text = answer.read().decode()
        assert "flexrec_job_cpu_seconds_count 1.0" in text
    finally:
        server.shutdown()
        server.server_close()
