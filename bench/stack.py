"""The simulator and `flexrec serve` as two real processes for a bench, started and stopped once.

Shared by `long_polls.py` and `abuse_limits.py` (this folder is on sys.path when a bench runs):
each process writes its log into the bench's work folder, is waited for until it answers, and
is stopped (terminate, then kill) whatever the bench did.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

FLEXREC = [sys.executable, "-m", "flexrec"]


def wait_until_answered(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Poll `url` until it answers; stop the bench if the process exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback URL we built
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


@dataclass(frozen=True)
class Stack:
    """The two running processes."""

    sim: subprocess.Popen[bytes]
    service: subprocess.Popen[bytes]


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603


@contextmanager
def sim_and_service(
    workdir: Path,
    env: dict[str, str],
    *,
    sim_port: int,
    service_port: int,
    sim_args: list[str],
    timeout_s: float = 90.0,
) -> Iterator[Stack]:
    """`flexrec sim --port sim_port *sim_args`, then `flexrec serve --port service_port` (both
    with `env`, logs `sim.log` and `service.log` in `workdir`), each answering before the next."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        argv = [*FLEXREC, "sim", "--port", str(sim_port), *sim_args]
        started.append(_start(argv, env, workdir / "sim.log"))
        wait_until_answered(f"http://127.0.0.1:{sim_port}/_sim/stats", started[-1], timeout_s)
        argv = [*FLEXREC, "serve", "--port", str(service_port)]
        started.append(_start(argv, env, workdir / "service.log"))
        wait_until_answered(f"http://127.0.0.1:{service_port}/healthz", started[-1], timeout_s)
        yield Stack(*started)
    finally:
        for process in reversed(started):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
