"""The declarative base every model shares, and the engine/session factories."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, sessionmaker

from flexrec.db.metrics import count_statements
from flexrec.db.urls import check_database_url

# Stable constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base class of every flexrec table."""

    metadata = MetaData(naming_convention=NAMING)


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL and a busy timeout so threads can share the file.

    Raises `UnsupportedDatabaseUrl` for a URL of a database flexrec does not run on."""
    check_database_url(url)
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            use_wal(dbapi_conn)
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    # One listener for both: every statement pays each listener's dispatch.
    count_statements(engine, rewrite=_without_nul)
    return engine


def use_wal(dbapi_conn: Any, wait_s: float = 30.0) -> None:
    """Put the SQLite file in WAL mode (kept in the file: done once per database).

    Switching takes an exclusive lock, and two connections switching at once can deadlock,
    which SQLite answers at once with "database is locked" instead of waiting its busy timeout
    (4 processes opening a fresh file together failed 1 time in 30). So the mode is read
    first, and a switch that meets another is tried again: the other one's switch makes ours
    a no-op.
    """
    deadline: float | None = None  # the clock is read only once a switch has met another
    while True:
        cursor = dbapi_conn.cursor()
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            deadline = deadline or time.monotonic() + wait_s
            if time.monotonic() > deadline:
                raise
        finally:
            cursor.close()
        time.sleep(0.01)


def _clean(value: Any) -> Any:
    return value.replace("\x00", "\ufffd") if isinstance(value, str) and "\x00" in value else value


def _has_nul(values: Any) -> bool:
    return any(isinstance(v, str) and "\x00" in v for v in values)


def without_nul(params: Any) -> Any:
    """A statement's parameters (a mapping or a sequence) with NULs in strings replaced (see
    `_without_nul`); the same object when none has one, as almost no statement does."""
    if isinstance(params, dict):
        if not _has_nul(params.values()):
            return params
        return {key: _clean(value) for key, value in params.items()}
    if isinstance(params, tuple | list):
        return type(params)(_clean(v) for v in params) if _has_nul(params) else params
    return params


def _without_nul(
    _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, executemany: bool
) -> tuple[str, Any]:
    """NUL characters in string parameters become U+FFFD, on every database alike.

    PostgreSQL text cannot hold NUL (psycopg raises: a 500 for a name, a search or a sign-in
    form with one), SQLite stores it: a value from outside is kept, with one character
    replaced, and searches behave the same on both.
    """
    if executemany and isinstance(parameters, list):
        return statement, [without_nul(row) for row in parameters]
    return statement, without_nul(parameters)


def make_session_factory(engine: Engine) -> sessionmaker[Any]:
    """A session factory whose objects stay usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)
