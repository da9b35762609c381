"""SQLite files are in WAL mode from their migration on, and opening one never trips on
another process switching it at the same moment."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from flexrec.db.base import make_engine, use_wal
from flexrec.db.migrate import upgrade


def test_a_migrated_database_file_is_already_in_wal_mode(tmp_path: Path) -> None:
    # The processes that open it next (serve, workers, the CLI, often at once) find WAL set
    # and do not each switch it: concurrent switches deadlock, answered "database is locked".
    path = tmp_path / "flexrec.db"
    upgrade(f"sqlite:///{path}")
    with sqlite3.connect(path) as plain:
        assert plain.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_an_engine_puts_an_older_file_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()  # a file made before (rollback journal)
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        engine.dispose()


class _Switching:
    """A DBAPI connection whose journal-mode switch meets another process's `fails` times."""

    def __init__(self, fails: int, error: str = "database is locked") -> None:
        self.fails, self.error, self.mode, self.switches = fails, error, "delete", 0

    def cursor(self) -> _Switching:
        return self

    def execute(self, sql: str) -> _Switching:
        if sql == "PRAGMA journal_mode=WAL":
            self.switches += 1
            if self.fails:
                self.fails -= 1
                raise sqlite3.OperationalError(self.error)
            self.mode = "wal"
        return self

    def fetchone(self) -> tuple[Any]:
        return (self.mode,)

    def close(self) -> None:
        pass


def test_a_switch_that_meets_another_is_tried_again() -> None:
    connection = _Switching(fails=2)
    use_wal(connection)
    assert (connection.mode, connection.switches) == ("wal", 3)


def test_a_file_already_in_wal_mode_is_not_switched() -> None:
    connection = _Switching(fails=0)
    connection.mode = "wal"
    use_wal(connection)
    assert connection.switches == 0


def test_other_errors_and_a_lock_that_outlasts_the_wait_are_raised() -> None:
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        use_wal(_Switching(fails=1, error="disk I/O error"))
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        use_wal(_Switching(fails=10**6), wait_s=0.05)
