"""What the service asks of its database: statements and write transactions, counted per engine.

Sizing a deployment (and `bench/service_day.py`) needs the work per call the database is given,
which does not depend on how fast this machine is: statements sent, and transactions that took
the write lock. A write transaction is one that ran an INSERT, UPDATE or DELETE, began with
SQLite's `BEGIN IMMEDIATE` or locked rows with `FOR UPDATE` (PostgreSQL's equivalent of taking
the write lock first), counted once when it commits or rolls back.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter
from sqlalchemy import Engine, event

STATEMENTS = Counter(
    "flexrec_db_statements_total",
    "SQL statements sent to the database (the job queue's own store not included).",
)
WRITE_TRANSACTIONS = Counter(
    "flexrec_db_write_transactions_total",
    "Database transactions that wrote or took the write lock, counted when they end.",
)

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_WROTE = "flexrec_wrote"
# The locking clause SQLAlchemy renders at the very end of a SELECT (`with_for_update`).
_ROW_LOCK = re.compile(
    r"\sFOR (NO KEY )?UPDATE(\s+(OF\s+[\w\".]+(,\s*[\w\".]+)*|NOWAIT|SKIP LOCKED))*\s*$"
)


def is_write(statement: str) -> bool:
    """Whether a statement writes or takes the write lock (see the module docstring)."""
    head = statement.lstrip()[:16].upper()
    if head.startswith(_WRITES) or head.startswith("BEGIN IMMEDIATE"):
        return True
    # A row lock taken for an update to come: only SELECTs carry it, at their very end.
    return head.startswith(("SELECT", "WITH")) and bool(_ROW_LOCK.search(statement[-96:].upper()))


def note_statement(connection: Any, writes: bool) -> None:
    """Count a statement sent on `connection` without SQLAlchemy's execution (prepared
    statements on the driver's cursor, flexrec.db.prepared) as the listener below would."""
    STATEMENTS.inc()
    if writes:
        connection.info[_WROTE] = True


Rewrite = Callable[[Any, Any, str, Any, Any, bool], tuple[str, Any]]


def count_statements(engine: Engine, rewrite: Rewrite | None = None) -> None:
    """Count `engine`'s statements and write transactions on the metrics above; `rewrite` (a
    `before_cursor_execute` listener with `retval=True`) runs in the same listener, since
    every statement pays each listener's dispatch."""

    def on_statement(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> tuple[str, Any]:
        STATEMENTS.inc()
        if is_write(statement):
            conn.info[_WROTE] = True
        if rewrite is None:
            return statement, params
        return rewrite(conn, cursor, statement, params, context, many)

    event.listen(engine, "before_cursor_execute", on_statement, retval=True)
    event.listen(engine, "commit", _on_end)
    event.listen(engine, "rollback", _on_end)


def _on_end(conn: Any) -> None:
    if conn.info.pop(_WROTE, False):
        WRITE_TRANSACTIONS.inc()
