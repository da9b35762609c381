"""The audit chain stays one line with many processes writing at once, on SQLite and PostgreSQL.

Each writer is a process of its own with its own engine (as `serve --processes N`, workers and
the CLI are); all start together on a barrier and write interleaved rows, one transaction each.
"""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, func, select, text

from flexrec.archive.audit_chain import AuditLog, walk_chain
from flexrec.db.base import make_engine, make_session_factory
from flexrec.db.migrate import upgrade

pytestmark = pytest.mark.slow

PROCESSES = 4
ROWS_EACH = 40


def _writer(url: str, name: str, barrier: Any, errors: Any) -> None:
    from flexrec.archive.audit_log import record_event

    engine = make_engine(url)
    sessions = make_session_factory(engine)
    try:
        # Start-up (spawned interpreters importing flexrec) is slow on a busy machine.
        barrier.wait(timeout=240)
        for i in range(ROWS_EACH):
            record_event(sessions, "play", name, recording_sid=None, detail={"n": i})
    except Exception as exc:
        errors.put(f"{name}: {exc!r}")
    finally:
        engine.dispose()


def _run_writers(url: str) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    errors = context.Queue()
    procs = [
        context.Process(target=_writer, args=(url, f"p{i}", barrier, errors))
        for i in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=420)
        assert proc.exitcode == 0
    assert errors.empty(), errors.get()


def _assert_one_linear_chain(url: str) -> None:
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            walk = walk_chain(session)
            seqs = session.scalars(select(AuditLog.seq).order_by(AuditLog.seq)).all()
            writers = session.scalar(select(func.count(func.distinct(AuditLog.actor))))
    finally:
        engine.dispose()
    assert walk.problems == []
    assert seqs == list(range(1, PROCESSES * ROWS_EACH + 1))
    assert writers == PROCESSES


def test_concurrent_writers_keep_one_chain_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'flexrec.db'}"
    upgrade(url)
    _run_writers(url)
    _assert_one_linear_chain(url)


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    schema = f"flexrec_chain_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in postgres_url else "?"
    yield f"{postgres_url}{separator}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def test_concurrent_writers_keep_one_chain_on_postgres(pg_url: str) -> None:
    upgrade(pg_url)
    _run_writers(pg_url)
    _assert_one_linear_chain(pg_url)
