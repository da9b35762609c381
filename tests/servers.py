"""Throwaway real servers on loopback (PostgreSQL, Redis), for the tests and the benches.

Importable as `servers` (pytest puts tests/ on the path; the benches add it). Each starts from
Debian's binaries in a temporary folder on a free port and is removed when its block ends.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from flexsim import free_port


class ServerUnavailable(RuntimeError):
    """The server's binaries are missing or it did not start."""


@dataclass(frozen=True)
class RunningServer:
    """A started server: its URL and the PID of its main process (for CPU accounting)."""

    url: str
    pid: int


def wait_for_port(port: int, timeout_s: float = 30.0) -> bool:
    """Whether something accepts connections on 127.0.0.1:`port` within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


@contextmanager
def throwaway_postgres() -> Iterator[RunningServer]:
    """A PostgreSQL cluster (fsync off) as a SQLAlchemy URL `postgresql+psycopg://...`."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise ServerUnavailable("PostgreSQL binaries not installed (make system-deps)")
    bindir = Path(found[-1]).parent
    workdir = Path(tempfile.mkdtemp(prefix="flexrec-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root; hand the folder to the postgres user.
        shutil.chown(workdir, user="postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    datadir = workdir / "data"
    port = free_port()
    subprocess.run(
        [*run_as, str(bindir / "initdb"), "-D", str(datadir), "-U", "flexrec", "--auth=trust"],
        check=True,
        capture_output=True,
    )
    server = subprocess.Popen(
        [
            *run_as,
            *(str(bindir / "postgres"), "-D", str(datadir), "-p", str(port), "-k", str(workdir)),
            *("-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        if not wait_for_port(port):
            raise ServerUnavailable("PostgreSQL did not start")
        subprocess.run(
            [
                *run_as,
                str(bindir / "createdb"),
                *("-h", "127.0.0.1", "-p", str(port)),
                *("-U", "flexrec", "flexrec"),
            ],
            check=True,
            capture_output=True,
        )
        yield RunningServer(f"postgresql+psycopg://flexrec@127.0.0.1:{port}/flexrec", server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def throwaway_redis() -> Iterator[RunningServer]:
    """A Redis server (no persistence) as `redis://127.0.0.1:PORT/0`."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServerUnavailable("redis-server not installed (make system-deps)")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="flexrec-redis-")
    server = subprocess.Popen(
        [
            binary,
            *("--port", str(port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--dir", workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        if not wait_for_port(port):
            raise ServerUnavailable("redis-server did not start")
        yield RunningServer(f"redis://127.0.0.1:{port}/0", server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
