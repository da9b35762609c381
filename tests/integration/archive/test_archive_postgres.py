"""The archive on PostgreSQL (the scaled deployment): job, races between workers, retention."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sim_recordings import SimRecordings
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

import flexrec.archive.models  # noqa: F401 - registers the archive tables
from flexrec.archive.errors import ArchiveRetryableError
from flexrec.archive.retention import RetentionPolicy
from flexrec.archive.service import ArchiveService
from flexrec.archive.storage import MemoryStorage
from flexrec.db.base import Base, make_engine, make_session_factory
from flexsim.testing import make_wav

pytestmark = pytest.mark.slow

RE = "RE" + "1" * 32
CA = "CA" + "2" * 32


@pytest.fixture
def pg_sessions(postgres_url: str) -> Iterator[sessionmaker[Session]]:
    # A database of our own, so create_all never collides with migrated test databases.
    name = f"archive_{secrets.token_hex(4)}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(postgres_url.rsplit("/", 1)[0] + f"/{name}")
    Base.metadata.create_all(engine)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def make(
    sessions: sessionmaker[Session], twilio: SimRecordings, store: MemoryStorage
) -> ArchiveService:
    return ArchiveService(
        sessions,
        store,
        twilio.sdk_client(),
        retention=RetentionPolicy(30),
        delete_from_twilio=True,
    )


def test_job_and_retention_on_postgres(pg_sessions: sessionmaker[Session]) -> None:
    twilio, store = SimRecordings(), MemoryStorage()
    twilio.add(RE, CA, make_wav(duration_s=2.0))
    twilio.fail_next("media", 503)
    service = make(pg_sessions, twilio, store)
    with pytest.raises(ArchiveRetryableError):
        service.job.archive_recording(RE)
    row = service.job.archive_recording(RE)
    assert row.state == "deleted_from_twilio" and row.attempts == 2
    assert row.archived_at is not None and row.archived_at.tzinfo is not None
    assert row.retain_until == datetime(2026, 3, 4, 10, 0, tzinfo=UTC) + timedelta(days=30)
    assert service.job.unfinished(timedelta(0)) == []
    assert service.analyses.unanalysed() == [RE]
    service.analyses.analyse(RE)
    assert service.analyses.unanalysed() == []
    assert service.holds.apply_retention(row.retain_until) == [RE]
    assert store.list_keys() == []


def test_two_workers_racing_on_one_recording_store_one_object(
    pg_sessions: sessionmaker[Session],
) -> None:
    twilio, store = SimRecordings(), MemoryStorage()
    twilio.add(RE, CA)
    results: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        service = make(pg_sessions, twilio, store)
        barrier.wait()
        try:
            results.append(service.job.archive_recording(RE).state)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # Whatever the interleaving: one row, one object, and the recording ends up archived.
    assert len(results) + len(errors) == 2
    assert all(isinstance(e, ArchiveRetryableError) for e in errors), errors
    final = make(pg_sessions, twilio, store).job.archive_recording(RE)
    assert final.state == "deleted_from_twilio"
    assert len(store.list_keys()) == 1


def test_the_completion_note_keeps_what_the_row_has_on_postgres(
    pg_sessions: sessionmaker[Session],
) -> None:
    service = make(pg_sessions, SimRecordings(), MemoryStorage())
    first = service.job.note_completed(RE, CA, None, 2)
    again = service.job.note_completed(RE, "CA" + "9" * 32, "https://x/" + RE, 1, duration_s=7)
    assert again.id == first.id and first.state == "downloading"
    assert (again.call_sid, again.channels, again.media_url, again.twilio_duration_s) == (
        CA, 2, "https://x/" + RE, 7,
    )  # fmt: skip
