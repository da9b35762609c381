"""The change feed against real databases: a write from another connection (another process,
in production) wakes the poll waiting on its task, and only that one: SQLite through its
`task_changes` rows, PostgreSQL through LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from flexrec.db.base import make_engine, make_session_factory
from flexrec.db.migrate import upgrade
from flexrec.recording.changes import source_for
from flexrec.server.change_feed import ChangeFeed

TASK = "WT" + "1" * 32
OTHER = "WT" + "2" * 32
NOW = "2026-12-01 10:00:00"


INSERT = (
    "INSERT INTO tasks (sid, status, created_at, updated_at) VALUES (:sid, 'pending', :at, :at)"
)
MOVED = "UPDATE tasks SET status = 'assigned' WHERE sid = :sid"
UNSEEN = "UPDATE tasks SET queue_name = 'Sales' WHERE sid = :sid"


def _write(url: str, statement: str, sid: str) -> None:
    # A connection of its own, as another process writing the same database would have.
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(statement), {"sid": sid, "at": NOW})
    engine.dispose()


async def _wakes(feed: ChangeFeed, url: str, statement: str, sid: str) -> bool:
    async with feed.watch(TASK) as watch:
        await asyncio.to_thread(_write, url, statement, sid)
        return await watch.changed(5.0)


def _announces(url: str) -> None:
    engine = make_engine(url)
    feed = ChangeFeed(source_for(url, make_session_factory(engine)), tick_s=0.05)
    try:
        assert asyncio.run(_wakes(feed, url, INSERT, TASK))
        # A change of another task, or of nothing the state shows, leaves this poll asleep.
        assert not asyncio.run(_wakes(feed, url, INSERT, OTHER))
        assert asyncio.run(_wakes(feed, url, MOVED, TASK))
        assert not asyncio.run(_wakes(feed, url, UNSEEN, TASK))
    finally:
        feed.close()
        engine.dispose()


def test_sqlite_writes_from_another_connection_wake_the_poll(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'flexrec.db'}"
    upgrade(url)
    _announces(url)


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    schema = f"flexrec_feed_{uuid.uuid4().hex[:10]}"
    base = postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.mark.slow
def test_postgresql_notifies_the_poll_on_commit(pg_url: str) -> None:
    upgrade(pg_url)
    _announces(pg_url)
