"""SQLite write transactions of one process queue on an in-process lock, and nest safely."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, select
from testkit import ContendedLock

from flexrec.db.base import make_session_factory
from flexrec.db.migrate import upgrade
from flexrec.db.models import TaskRecord
from flexrec.db.prepared import watch
from flexrec.recording import store
from flexrec.recording.store import insert_ignore, write_connection, write_session

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_a_second_writer_waits_for_the_first_to_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    upgrade(url)
    # No busy timeout: without the in-process lock the second writer would fail at once with
    # "database is locked" instead of waiting.
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 0})
    sessions = make_session_factory(engine)
    # the engine's write lock, watched: the first writer holds it until the second one waits
    lock = ContendedLock()
    monkeypatch.setitem(store._write_locks, engine, lock)  # type: ignore[arg-type]
    order: list[str] = []
    errors: list[BaseException] = []
    inside = threading.Event()

    def second() -> None:
        inside.wait(5)
        try:
            with write_session(sessions) as session:
                # The first writer's row is visible: we started after it committed.
                seen = session.scalars(select(TaskRecord.sid)).all()
                order.append(f"second saw {len(seen)}")
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    with write_session(sessions) as session:
        inside.set()
        assert lock.contended.wait(5), "the second writer never met the lock"
        insert_ignore(session, TaskRecord, {"sid": "WT1", "created_at": NOW, "updated_at": NOW},
                      ["sid"])  # fmt: skip
        order.append("first committed")
    thread.join(5)
    assert errors == []
    assert order == ["first committed", "second saw 1"]
    engine.dispose()


def test_bare_connection_writers_share_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    upgrade(url)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 0})
    sessions = make_session_factory(engine)
    # the engine's write lock, watched: the first writer holds it until the second one waits
    lock = ContendedLock()
    monkeypatch.setitem(store._write_locks, engine, lock)  # type: ignore[arg-type]
    seen: list[int] = []
    errors: list[BaseException] = []
    inside = threading.Event()

    def second() -> None:
        inside.wait(5)
        try:
            with write_connection(sessions) as connection:
                seen.append(len(connection.execute(select(TaskRecord.sid)).all()))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    with write_session(sessions) as session:
        inside.set()
        assert lock.contended.wait(5), "the second writer never met the lock"
        insert_ignore(session, TaskRecord, {"sid": "WT1", "created_at": NOW, "updated_at": NOW},
                      ["sid"])  # fmt: skip
    thread.join(5)
    assert (errors, seen) == ([], [1])
    engine.dispose()


def test_a_transaction_that_writes_first_is_one_transaction_without_begin(tmp_path: Path) -> None:
    """`writes_first` leaves the BEGIN to SQLite's own transaction, begun by the first write:
    every statement after it is still in the same transaction, undone together on failure."""
    url = f"sqlite:///{tmp_path / 'f.db'}"
    upgrade(url)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 0})
    sessions = make_session_factory(engine)
    seen: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement.split(None, 1)[0].upper())

    row = {"created_at": NOW, "updated_at": NOW}
    # The inserts run prepared on the driver's cursor (watched), the rest through SQLAlchemy.
    event.listen(engine, "before_cursor_execute", count)
    with watch(lambda statement: count(None, None, statement)):
        with pytest.raises(RuntimeError), write_connection(sessions, writes_first=True) as conn:
            insert_ignore(conn, TaskRecord, {"sid": "WT1", **row}, ["sid"])
            insert_ignore(conn, TaskRecord, {"sid": "WT2", **row}, ["sid"])
            raise RuntimeError("the process fails before the commit")
        with write_connection(sessions, writes_first=True) as conn:
            insert_ignore(conn, TaskRecord, {"sid": "WT3", **row}, ["sid"])
    event.remove(engine, "before_cursor_execute", count)
    assert seen == ["INSERT", "INSERT", "INSERT"]
    with sessions() as session:
        assert session.scalars(select(TaskRecord.sid)).all() == ["WT3"]
    engine.dispose()


def test_a_bare_writer_gives_its_connection_back_after_releasing_the_lock(
    tmp_path: Path,
) -> None:
    """The write lock covers the transaction: a bare connection's check-in into the pool (its
    reset) comes after the lock is released, so a thread that loses the CPU there stalls no
    other writer. (It is checked out after the lock is taken: a thread waiting for the lock
    holds no connection, so waiters never drain the pool.)"""
    url = f"sqlite:///{tmp_path / 'p.db'}"
    upgrade(url)
    engine = create_engine(url, connect_args={"check_same_thread": False})
    sessions = make_session_factory(engine)
    lock = store._sqlite_write_lock(engine)
    free: list[bool] = []

    def lock_is_free(*_args: object) -> None:
        # Another thread, as another writer would: this one may hold the (reentrant) lock.
        def probe() -> None:
            got = lock.acquire(blocking=False)
            free.append(got)
            if got:
                lock.release()

        other = threading.Thread(target=probe)
        other.start()
        other.join()

    event.listen(engine, "checkin", lock_is_free)
    row = {"created_at": NOW, "updated_at": NOW}
    with write_connection(sessions, writes_first=True) as conn:
        insert_ignore(conn, TaskRecord, {"sid": "WT1", **row}, ["sid"])
    with write_connection(sessions) as conn:
        insert_ignore(conn, TaskRecord, {"sid": "WT2", **row}, ["sid"])
    assert free == [True, True]
    with sessions() as session:
        assert session.scalars(select(TaskRecord.sid)).all() == ["WT1", "WT2"]
    engine.dispose()
