"""The queue's jobs in a process of their own beside `flexrec serve` (`--jobs-process`).

The archive and analysis jobs are CPU work in Python. Run as threads of the service they take
the GIL from the webhooks: a webhook's thread waits for it behind a job, and lowering a job
thread's priority makes that worse (the kernel then seldom runs the thread that holds the GIL).
In a `flexrec worker` of its own at a lower priority, the kernel decides instead: a webhook runs
first whenever both can. At 80% of a core's saturation this cut the answer p99 1.6-3.4x with the
archive keeping up (bench/results/issue18.md, `bench/service_day.py --jobs-process`).

The worker is the scaled deployment's `flexrec worker` on the same database and queue: it runs
every queue job and the recovery at start. It leaves when the service is gone (a kill -9 too:
it watches its parent), and the service starts it again if it exits while the service runs.

Its metrics (the jobs' CPU, the archive's and analysis' counters, its database statements)
reach the service's `/metrics` through a listening socket the service opens on 127.0.0.1 and
hands to each worker it starts: the port stays the same across restarts, no port is chosen
twice or raced for, and nothing listens beyond this host. The service fetches them on a scrape
(flexrec.server.jobs_metrics). Prometheus' multiprocess mode was the other way: it needs a
folder of memory-mapped files shared by both, cleaned of dead processes' files, and every
gauge given a merge mode, and it drops the process and GC collectors: more to get wrong than
one HTTP fetch on a scrape.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from flexrec.logs import get_logger

if TYPE_CHECKING:  # loaded by the worker only, when it serves its metrics
    from http.server import ThreadingHTTPServer

    from prometheus_client.registry import Collector

log = get_logger(__name__)

SUPERVISOR_ENV = "FLEXREC_SUPERVISOR_PID"  # the worker leaves when this process is gone
METRICS_FD_ENV = "FLEXREC_JOBS_METRICS_FD"  # the inherited socket the worker serves metrics on
METRICS_URL_ENV = "FLEXREC_JOBS_METRICS_URL"  # where web processes (--processes N) fetch them
# Waits before starting the worker again after it exited unasked, by exits in a row.
RESTART_DELAYS_S = (1.0, 2.0, 5.0, 10.0, 30.0)
HEALTHY_RUN_S = 60.0  # a worker that ran this long and exited starts again at the first delay
STOP_WAIT_S = 30.0


def worker_argv(workers: int, nice: int) -> list[str]:
    """`flexrec worker` at `nice` more than this process (coreutils' nice sets it before exec,
    so every thread of the worker has it)."""
    argv = [sys.executable, "-m", "flexrec", "worker", "--workers", str(workers)]
    runner = shutil.which("nice")
    return [runner, "-n", str(nice), *argv] if runner and nice else argv


class JobsProcess:
    """A supervised `flexrec worker` child: started, restarted when it exits unasked, stopped."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        spawn: Callable[..., subprocess.Popen[bytes]] = subprocess.Popen,
        restart_delays_s: Sequence[float] = RESTART_DELAYS_S,
    ) -> None:
        self._argv = list(argv)
        self._spawn = spawn
        self._delays = tuple(restart_delays_s)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._watch: threading.Thread | None = None
        self._metrics: socket.socket | None = None
        self.metrics_url: str | None = None  # set by start()
        self.starts = 0

    @property
    def pid(self) -> int | None:
        """The running worker's process id."""
        child = self._child
        return None if child is None else child.pid

    def start(self) -> None:
        """Open the worker's metrics socket, start the worker and its watch."""
        # Opened here and kept: a restarted worker serves on the same port, and a scrape made
        # while it restarts waits in the backlog until its fetch times out.
        self._metrics = socket.create_server(("127.0.0.1", 0))
        self.metrics_url = f"http://127.0.0.1:{self._metrics.getsockname()[1]}/metrics"
        self._start_child()
        self._watch = threading.Thread(target=self._watch_child, name="flexrec-jobs", daemon=True)
        self._watch.start()

    def _start_child(self) -> None:
        env = {**os.environ, SUPERVISOR_ENV: str(os.getpid())}
        fds: tuple[int, ...] = ()
        if self._metrics is not None:
            fds = (self._metrics.fileno(),)
            env[METRICS_FD_ENV] = str(fds[0])
        with self._lock:
            if self._stopping.is_set():
                return
            self._child = self._spawn(self._argv, env=env, pass_fds=fds)
            self.starts += 1
        log.info("jobs_process_started", pid=self._child.pid, argv=self._argv)

    def _watch_child(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            child = self._child
            if child is None:
                return
            began = time.monotonic()
            code = child.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - began > HEALTHY_RUN_S:
                failures = 0  # it ran a while: a new fault, not the same one again
            delay = self._delays[min(failures, len(self._delays) - 1)]
            failures += 1
            # Its jobs wait in the queue meanwhile (nothing is lost); the archive only lags.
            # Exit 0 is a SIGTERM it was sent, most often with this process (a stop signalled
            # to the whole process group, as `docker stop` and systemd do): no alarm for that.
            log.log(
                logging.INFO if code == 0 else logging.WARNING,
                "jobs_process_exited",
                code=code,
                restart_in_s=delay,
            )
            if self._stopping.wait(delay):
                return
            self._start_child()

    def stop(self, timeout_s: float = STOP_WAIT_S) -> None:
        """Ask the worker to stop (SIGTERM: its running jobs finish), kill it after `timeout_s`."""
        with self._lock:
            self._stopping.set()
            child = self._child
        try:
            if child is None or child.poll() is not None:
                return
            child.terminate()
            try:
                child.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("jobs_process_killed", pid=child.pid)
                child.kill()
                child.wait()
        finally:
            watch = self._watch
            if watch is not None and watch is not threading.current_thread():
                watch.join(timeout_s)  # it leaves once its child is gone: no start after this
            if self._metrics is not None:
                self._metrics.close()


def serve_metrics(fd: int, registry: Collector | None = None) -> ThreadingHTTPServer:
    """Serve this process's metrics (`registry`, default the global one) on the listening
    socket `fd` its service handed it (every path answers the Prometheus text), on a daemon
    thread; returns the server."""
    from http.server import ThreadingHTTPServer

    from prometheus_client import REGISTRY
    from prometheus_client.exposition import MetricsHandler

    listening = socket.socket(fileno=fd)
    server = ThreadingHTTPServer(
        listening.getsockname()[:2],
        MetricsHandler.factory(registry or REGISTRY),
        bind_and_activate=False,
    )
    server.socket.close()  # the one it made unbound; the service's is already listening
    server.socket = listening
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="flexrec-metrics", daemon=True).start()
    return server
