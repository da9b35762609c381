"""The recordings list query on PostgreSQL (the scaled deployment), same answers as SQLite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from flexrec.accounts.principal import Principal
from flexrec.app.samples import sample_calls, store_sample_call
from flexrec.archive.storage import MemoryStorage
from flexrec.console import queries
from flexrec.db.base import Base, make_engine, make_session_factory

pytestmark = pytest.mark.slow

WORKERS = ["WK" + "a1" * 16, "WK" + "b0" * 16]
SUPERVISOR = Principal("sam", "supervisor", None, "csrf", "password")
AGENT = Principal("alice", "agent", WORKERS[0], "csrf", "password")


@pytest.fixture
def pg_session(postgres_url: str) -> Iterator[Session]:
    """A session on a fresh schema of the throwaway PostgreSQL, seeded with the sample calls."""
    schema = f"console_{uuid.uuid4().hex[:8]}"
    admin: Engine = make_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(postgres_url)
    engine = engine.execution_options(schema_translate_map={None: schema})
    Base.metadata.create_all(engine)
    sessions = make_session_factory(engine)
    with sessions() as session:
        for call in sample_calls(WORKERS):
            store_sample_call(session, MemoryStorage(), call)
        session.commit()
        yield session
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _sids(session: Session, principal: Principal, **filters: object) -> list[str]:
    page = queries.list_recordings(
        session,
        principal,
        queries.RecordingFilters(page_size=100, **filters),  # type: ignore[arg-type]
    )
    return [item["recording_sid"] for item in page.items]


def test_filters_sorting_and_visibility_on_postgresql(pg_session: Session) -> None:
    calls = sample_calls(WORKERS)
    assert len(_sids(pg_session, SUPERVISOR)) == len(calls)
    assert set(_sids(pg_session, AGENT)) == {
        c.recording_sid for c in calls if c.worker_sid == WORKERS[0]
    }
    assert _sids(pg_session, SUPERVISOR, q="CA11") == [calls[0].recording_sid]
    assert set(_sids(pg_session, SUPERVISOR, q=calls[1].task_sid[-6:])) == {calls[1].recording_sid}
    day = date(2026, 11, 21)
    assert set(_sids(pg_session, SUPERVISOR, date_from=day, date_to=day)) == {
        c.recording_sid for c in calls if c.started_at.date() == day
    }
    items = queries.list_recordings(
        pg_session, SUPERVISOR, queries.RecordingFilters(sort="silence", page_size=100)
    ).items
    silences = [i["silence_pct"] for i in items]
    assert silences == sorted(silences)
    # A threshold between two shown values, clear of the display rounding.
    assert silences[2] < silences[3]
    threshold = (silences[2] + silences[3]) / 2
    assert set(_sids(pg_session, SUPERVISOR, min_silence_pct=threshold)) == {
        i["recording_sid"] for i in items[3:]
    }
