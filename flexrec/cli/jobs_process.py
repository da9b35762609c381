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
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

from flexrec.logs import get_logger

log = get_logger(__name__)

SUPERVISOR_ENV = "FLEXREC_SUPERVISOR_PID"  # the worker leaves when this process is gone
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
        self.starts = 0

    @property
    def pid(self) -> int | None:
        """The running worker's process id."""
        child = self._child
        return None if child is None else child.pid

    def start(self) -> None:
        """Start the worker and its watch."""
        self._start_child()
        self._watch = threading.Thread(target=self._watch_child, name="flexrec-jobs", daemon=True)
        self._watch.start()

    def _start_child(self) -> None:
        env = {**os.environ, SUPERVISOR_ENV: str(os.getpid())}
        with self._lock:
            if self._stopping.is_set():
                return
            self._child = self._spawn(self._argv, env=env)
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
            log.warning("jobs_process_exited", code=code, restart_in_s=delay)
            if self._stopping.wait(delay):
                return
            self._start_child()

    def stop(self, timeout_s: float = STOP_WAIT_S) -> None:
        """Ask the worker to stop (SIGTERM: its running jobs finish), kill it after `timeout_s`."""
        with self._lock:
            self._stopping.set()
            child = self._child
        if child is None or child.poll() is not None:
            return
        child.terminate()
        try:
            child.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("jobs_process_killed", pid=child.pid)
            child.kill()
            child.wait()
