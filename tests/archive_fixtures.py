"""Archive fixtures shared by the archive and custody unit tests: SQLite, a fake Twilio, a clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sim_recordings import SimRecordings
from sqlalchemy.orm import Session, sessionmaker

from flexrec.archive.service import ArchiveService
from flexrec.archive.storage import MemoryStorage
from flexrec.db.base import Base, make_engine, make_session_factory


class FakeClock:
    """A settable UTC clock."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    import flexrec.archive.models  # noqa: F401 - registers the archive tables

    engine = make_engine(f"sqlite:///{tmp_path / 'archive.db'}")
    Base.metadata.create_all(engine)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def twilio() -> SimRecordings:
    return SimRecordings()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store() -> MemoryStorage:
    return MemoryStorage()


@pytest.fixture
def make_service(
    sessions: sessionmaker[Session],
    twilio: SimRecordings,
    clock: FakeClock,
    store: MemoryStorage,
) -> Callable[..., ArchiveService]:
    def build(**kwargs: Any) -> ArchiveService:
        options: dict[str, Any] = {"clock": clock}
        options.update(kwargs)
        client = options.pop("client", None) or twilio.sdk_client()
        return ArchiveService(sessions, options.pop("store", store), client, **options)

    return build
