"""Database helpers of the recording service: write transactions and idempotent inserts.

Every helper works on SQLite and PostgreSQL. SQLite write transactions start with
`BEGIN IMMEDIATE` so two webhook threads never both read a row and then fail to upgrade their
lock ("database is locked"); PostgreSQL rows read for update are locked with `FOR UPDATE`.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import Connection, Engine, bindparam, false, func, select, text, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from flexrec.db.base import Base
from flexrec.db.models import AttributeWrite, ConferenceParticipantRecord
from flexrec.db.prepared import Prepared, write_changes, write_changes_prepared

_M = TypeVar("_M", bound=Base)

_write_locks: weakref.WeakKeyDictionary[Any, threading.RLock] = weakref.WeakKeyDictionary()
_write_locks_guard = threading.Lock()


# The write lock taken first (SQLite), so a transaction that reads before it writes never fails
# to upgrade its lock.
_BEGIN_IMMEDIATE = Prepared(text("BEGIN IMMEDIATE"))


def _sqlite_write_lock(bind: Any) -> threading.RLock:
    """This process's lock on a SQLite database's writes (one per engine)."""
    with _write_locks_guard:
        lock = _write_locks.get(bind)
        if lock is None:
            lock = _write_locks[bind] = threading.RLock()
        return lock


@contextmanager
def write_session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose transaction takes the write lock first and commits on success.

    On SQLite the threads of this process also queue on an in-process lock: SQLite lets one
    writer in and makes the others poll with growing sleeps (up to 100 ms each), which under
    load cost more than the writes; a waiting thread now wakes as soon as the writer commits.
    Other processes (queue workers) still meet at SQLite's own lock.
    """
    session = sessions()
    # The objects a handler changes are written as prepared UPDATEs (flexrec.db.prepared).
    write_changes_prepared(session)
    try:
        lock: threading.RLock | None = None
        bind = session.get_bind()
        if bind.dialect.name == "sqlite":
            lock = _sqlite_write_lock(bind)
            lock.acquire()
        try:
            if lock is not None:
                _BEGIN_IMMEDIATE.execute(session)
            yield session
            write_changes(session)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            # Released at the commit: the session's close comes after.
            if lock is not None:
                lock.release()
    finally:
        session.close()


@contextmanager
def write_connection(
    sessions: sessionmaker[Session], *, writes_first: bool = False
) -> Iterator[Connection]:
    """`write_session`'s transaction on a bare connection, for statements that load no objects.

    The same locking (in-process lock and BEGIN IMMEDIATE on SQLite), without the ORM session's
    bookkeeping, which costs more than a one-row read and update. `writes_first`: the caller's
    first statement writes, so SQLite's own transaction, begun by that statement, takes the
    write lock at once (and waits for it like BEGIN IMMEDIATE): the BEGIN is one statement less
    on the hot path. Only a transaction that reads before it writes can fail to upgrade its lock.
    """
    bind: Engine | None = sessions.kw.get("bind")
    if bind is None:  # an unbound factory: let the session find its engine
        with write_session(sessions) as session:
            yield session.connection()
        return
    lock = _sqlite_write_lock(bind) if bind.dialect.name == "sqlite" else None
    # The lock is taken before the connection is checked out of the pool (a thread waiting for
    # it holds no connection: the pool is never drained by waiters) and released before the
    # connection goes back (its reset is no writer's business).
    if lock is not None:
        lock.acquire()
    try:
        connection = bind.connect()
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    try:
        try:
            if lock is not None and not writes_first:
                _BEGIN_IMMEDIATE.execute(connection)
            yield connection
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        finally:
            if lock is not None:
                lock.release()
    finally:
        connection.close()


@contextmanager
def read_connection(sessions: sessionmaker[Session]) -> Iterator[Connection]:
    """A pooled connection for plain reads, without an ORM session's bookkeeping."""
    bind: Engine | None = sessions.kw.get("bind")
    if bind is None:  # an unbound factory: let a session find its engine
        with sessions() as session:
            yield session.connection()
        return
    with bind.connect() as connection:
        yield connection


@functools.cache
def insert_returning(dialect: str, target: Any, conflict: tuple[str, ...], returning: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING `returning` (no row back: it existed).

    One statement per (dialect, table or model, key, returning), values bound at execute:
    building it anew on every call cost more than running it, and a shared statement hits
    SQLAlchemy's compiled cache. RETURNING, not rowcount, says whether the row went in: psycopg
    reports no rowcount for ON CONFLICT DO NOTHING. `returning` is a tuple of columns, or the
    model itself to get ORM objects back.
    """
    stmt = _dialect_insert(dialect, target).on_conflict_do_nothing(index_elements=list(conflict))
    return stmt.returning(*returning) if isinstance(returning, tuple) else stmt.returning(returning)


def _dialect_insert(dialect: str, target: Any) -> Any:
    # The dialect's own INSERT: the generic one has no ON CONFLICT.
    if dialect == "postgresql":
        return postgresql.insert(target)
    if dialect == "sqlite":
        return sqlite.insert(target)
    raise RuntimeError(f"unsupported database {dialect}")  # pragma: no cover


@functools.cache
def _participant_upsert(event: str) -> Prepared:
    return Prepared(functools.partial(_participant_upsert_of, event=event))


def _participant_upsert_of(dialect: str, event: str) -> Any:
    table = ConferenceParticipantRecord.__table__
    stmt = _dialect_insert(dialect, table)
    changes: dict[str, Any] = {
        "label": func.coalesce(table.c.label, stmt.excluded.label),
        "updated_at": stmt.excluded.updated_at,
    }
    # A join never sets `joined` back: only a leave changes it once the row exists.
    if event == "participant-leave":
        changes["joined"] = false()
    elif event in ("participant-hold", "participant-unhold"):
        changes["hold"] = true() if event == "participant-hold" else false()
    return stmt.on_conflict_do_update(index_elements=["conference_sid", "call_sid"], set_=changes)


Executor = Session | Connection  # what a plain statement runs on: an ORM session or a connection


def upsert_participant(executor: Executor, event: str, values: Mapping[str, Any]) -> None:
    """Insert a conference leg, or apply the conference `event` to the row: one statement
    where insert-then-load-then-flush took three, on every participant callback."""
    _participant_upsert(event).execute(executor, values)


def insert_new(
    session: Session, model: type[_M], values: Mapping[str, Any], conflict: list[str]
) -> _M | None:
    """INSERT ... ON CONFLICT DO NOTHING; the inserted row as an object, None if it existed.

    One statement where insert-then-select took two, on the path every new call takes.
    """
    stmt = insert_returning(session.get_bind().dialect.name, model, tuple(conflict), model)
    row: _M | None = session.scalars(stmt, [dict(values)]).first()
    return row


def insert_ignore(
    executor: Executor, model: type[Base], values: Mapping[str, Any], conflict: list[str]
) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True when this call inserted the row."""
    return _insert_ignore(model.__table__, tuple(conflict)).execute(executor, values).rows != []


@functools.cache
def _insert_ignore(table: Any, conflict: tuple[str, ...]) -> Prepared:
    key = (table.c[conflict[0]],)
    return Prepared(lambda dialect: insert_returning(dialect, table, conflict, key))


class LinkRow(Protocol):
    """What planning reads of an attribute link."""

    id: int
    status: str
    written_at: datetime | None


_LINK_ROW_COLUMNS = (AttributeWrite.id, AttributeWrite.status, AttributeWrite.written_at)
_LINK_ROW_BY_KEY = Prepared(
    select(*_LINK_ROW_COLUMNS).where(
        AttributeWrite.task_sid == bindparam("task_sid"),
        AttributeWrite.target_id == bindparam("target_id"),
    )
)
_LINK_INSERT = Prepared(
    lambda dialect: insert_returning(
        dialect, AttributeWrite.__table__, ("task_sid", "target_id"), _LINK_ROW_COLUMNS
    )
)


def ensure_link(
    session: Session, *, task_sid: str, target_id: int, reservation_sid: str | None, now: datetime
) -> LinkRow:
    """The (task, target) attribute link, created pending if missing (plain statements)."""
    key = {"task_sid": task_sid, "target_id": target_id}
    found = _LINK_ROW_BY_KEY.execute(session, key).first()
    if found is not None:
        return cast(LinkRow, found)
    created = _LINK_INSERT.execute(
        session,
        {
            "task_sid": task_sid,
            "target_id": target_id,
            "reservation_sid": reservation_sid,
            "status": "pending",
            "attempts": 0,
            "created_at": now,
        },
    ).first()
    row = created if created is not None else _LINK_ROW_BY_KEY.execute(session, key).first()
    if row is None:  # pragma: no cover - inserted by us or by the transaction that won
        raise RuntimeError(f"link of task {task_sid} and target {target_id} vanished")
    return cast(LinkRow, row)
