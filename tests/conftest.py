"""Fixtures shared by every test: a clean environment and real servers started on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from servers import (
    S3Server,
    ServerUnavailable,
    throwaway_postgres,
    throwaway_redis,
    throwaway_seaweedfs,
)
from testkit import unavailable


@pytest.fixture(autouse=True)
def _scrub_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep a developer's Twilio and flexrec settings out of every test."""
    for name in list(os.environ):
        if name.startswith(("TWILIO_", "FLEXREC_")) and name != "FLEXREC_CI":
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on loopback (Debian's binaries), as a SQLAlchemy URL."""
    try:
        with throwaway_postgres() as server:
            yield server.url
    except ServerUnavailable as exc:
        unavailable(str(exc))


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A throwaway Redis server on loopback (Debian's redis-server)."""
    try:
        with throwaway_redis() as server:
            yield server.url
    except ServerUnavailable as exc:
        unavailable(str(exc))


@pytest.fixture(scope="session")
def seaweedfs_s3() -> Iterator[S3Server]:
    """SeaweedFS on loopback: an S3 server that enforces Object Lock (WORM tests)."""
    try:
        with throwaway_seaweedfs() as server:
            yield server
    except ServerUnavailable as exc:
        unavailable(str(exc))
