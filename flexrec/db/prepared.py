"""Hot statements compiled once per dialect and run on the driver's cursor.

SQLAlchemy's execution of even a cached statement costs about 100 us of Python (an execution
context, events, parameter and result machinery) where sqlite3 itself takes about 10 us. On
the webhook path, with a few statements per event and dozens per call, that was most of what
the handlers' database work cost. A `Prepared` statement is written with SQLAlchemy Core like
any other (the module that owns the rule owns the statement), compiled once per dialect, and
run on the DBAPI cursor of the caller's connection, inside the caller's transaction, with what
the ordinary path does for it: SQLAlchemy's own bind and result processors of each column's
type, the statement and write-transaction counters (flexrec.db.metrics), NUL characters
replaced (flexrec.db.base), and driver errors raised as SQLAlchemy's (so contention retries
and error translation see the same exceptions).

Only plain statements: no ORM entities, no expanding (IN) parameters (`one_of` writes an IN of
constants as a prepared statement takes it).

A session marked with `write_changes_prepared` has its changed objects written the same way:
each as one prepared UPDATE of the columns that changed (what the ORM's flush would send), so
the objects a handler attached and changed cost a statement, not the unit of work's bookkeeping
around SQLAlchemy's execution (about a third of a status callback's handler CPU).
"""

from __future__ import annotations

import threading
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Table, bindparam, inspect, literal, update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import (
    ColumnProperty,
    InstanceState,
    QueryableAttribute,
    Session,
    make_transient_to_detached,
)
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.base import NO_VALUE
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql.expression import ClauseElement, Executable

from flexrec.db.base import without_nul
from flexrec.db.metrics import is_write, note_statement

_Processor = Callable[[Any], Any] | None
_REQUIRED = object()  # a parameter the caller gives, as opposed to a value the statement holds
# Who is told of each prepared statement (`watch`): SQLAlchemy's events do not see them.
_watchers: list[Callable[[str], None]] = []


@dataclass(frozen=True)
class _Plan:
    """One statement as one dialect runs it."""

    sql: str
    positional: bool
    # Each parameter: its name, the value the statement holds (else _REQUIRED), its processor.
    params: tuple[tuple[str, Any, _Processor], ...]
    writes: bool
    row: Any  # the namedtuple class of its rows (None: no rows)
    results: tuple[_Processor, ...]


class Rows:
    """What a prepared statement returned: its rows (attribute and index access) and rowcount."""

    __slots__ = ("rowcount", "rows")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def first(self) -> Any:
        """The first row, or None."""
        return self.rows[0] if self.rows else None

    def scalar(self) -> Any:
        """The first column of the first row, or None."""
        return self.rows[0][0] if self.rows else None

    def __iter__(self) -> Any:
        return iter(self.rows)


class Prepared:
    """A Core statement compiled once per dialect and run on the driver's cursor.

    `statement`: the statement, or a function of the dialect's name that builds it (for a
    dialect's own constructs: INSERT ... ON CONFLICT)."""

    def __init__(self, statement: Executable | Callable[[str], Executable]) -> None:
        self.statement = statement
        # An INSERT is compiled for the columns given (the others take their defaults), as
        # SQLAlchemy does: one plan per dialect and set of columns.
        sample = statement if isinstance(statement, Executable) else statement("sqlite")
        self._inserts = bool(getattr(sample, "is_insert", False))
        self._plans: dict[tuple[str, tuple[str, ...] | None], _Plan] = {}
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return f"Prepared({self.statement})"

    def execute(
        self, executor: Connection | Session, params: Mapping[str, Any] | None = None
    ) -> Rows:
        """Run the statement in the executor's transaction (a session is flushed first, as
        its own `execute` would) and return its rows."""
        if isinstance(executor, Session):
            if executor.info.get(_WRITE_CHANGES):
                write_changes(executor)
            executor.flush()
            connection = executor.connection()
        else:
            connection = executor
        if not connection.in_transaction():
            # The driver's statement alone would not tell SQLAlchemy a transaction is open,
            # and its commit would then be a no-op and its close a rollback.
            connection.begin()
        dialect = connection.dialect
        params = params or {}
        key = (dialect.name, tuple(params) if self._inserts else None)
        plan = self._plans.get(key) or self._plan(dialect, key)
        values = _values(plan, params)
        note_statement(connection, plan.writes)
        for watcher in _watchers:
            watcher(plan.sql)
        fairy: Any = connection.connection
        cursor = fairy.dbapi_connection.cursor()
        try:
            cursor.execute(plan.sql, values)
            rows: list[Any] = []
            if plan.row is not None:
                rows = [_row(plan, raw) for raw in cursor.fetchall()]
            return Rows(rows, cursor.rowcount)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, fairy.dbapi_connection, cursor):
                connection.invalidate(exc)
            raise DBAPIError.instance(
                plan.sql, values, exc, dialect.loaded_dbapi.Error, dialect=dialect
            ) from exc
        finally:
            cursor.close()

    def _plan(self, dialect: Dialect, key: tuple[str, tuple[str, ...] | None]) -> _Plan:
        with self._guard:
            found = self._plans.get(key)
            if found is None:
                statement = self.statement
                if not isinstance(statement, Executable):
                    statement = statement(dialect.name)
                found = self._plans[key] = _compile(statement, dialect, key[1])
            return found


_M = TypeVar("_M")


def attached(session: Session, model: type[_M], values: Mapping[str, Any]) -> _M:
    """An object of `model` holding a row's `values` (every column: a prepared SELECT of the
    model's table), part of `session` as if the ORM had loaded it, so its changes flush as an
    UPDATE; the session's own object if it holds that row already. The ORM's load of one row
    costs several times the statement."""
    mapper = inspect(model)
    key = mapper.identity_key_from_primary_key([values[c.key] for c in mapper.primary_key])
    known: _M | None = session.identity_map.get(key)
    if known is not None:
        return known
    loaded = model()
    for name, value in values.items():
        set_committed_value(loaded, name, value)  # as a load does it: no change, no event
    make_transient_to_detached(loaded)
    session.add(loaded)
    return loaded


def one_of(
    column: ColumnElement[Any] | QueryableAttribute[Any], values: Iterable[Any]
) -> ColumnElement[bool]:
    """`column IN (values)` with each constant a parameter of its own: a prepared statement
    takes no expanding IN (the parameter SQLAlchemy's `in_` of a list renders, filled in at
    each execution)."""
    return column.in_([literal(value, column.type) for value in values])


_WRITE_CHANGES = "flexrec_write_changes_prepared"
# One UPDATE per table and set of changed columns, built on first use.
_updates: dict[tuple[Table, tuple[str, ...]], Prepared] = {}


def write_changes_prepared(session: Session) -> None:
    """Have `session`'s changed objects written by `write_changes` before each prepared
    statement it runs (the caller calls it again before its commit)."""
    session.info[_WRITE_CHANGES] = True


def write_changes(session: Session) -> None:
    """Write each changed object of `session` as one prepared UPDATE of its changed columns,
    keyed by its primary key, and mark it unchanged, as the ORM's flush does after sending the
    same UPDATE. What this does not cover is left to the ORM's flush, which still runs: new and
    deleted objects, an object with a SQL expression for a value or a change that is not a
    plain column. The UPDATEs go in the order the ORM's would (tables in dependency order, then
    by primary key), so row locks are taken in the same order whichever path wrote them."""
    # The ORM's own is-anything-changed test (a private attribute, as `_commit_all` below is:
    # the lockfile pins SQLAlchemy, and tests/unit/db/test_db_prepared.py fails if they move).
    if not session.identity_map._modified:
        return
    if session.new or session.deleted:
        return  # an INSERT or DELETE the UPDATEs may depend on (or the reverse): the ORM orders
    writes: list[_Write] = []
    for obj in session.dirty:
        state: InstanceState[Any] = inspect(obj)
        planned = _update_of(state)
        if isinstance(planned, _Unchanged):
            state._commit_all(state.dict, session.identity_map)  # the ORM would send nothing
        elif planned is not None:
            writes.append(planned)
    if not writes:
        return
    connection = session.connection()
    writes.sort(key=lambda w: (w[0], w[1]))
    for _, key, state, statement, params in writes:
        if statement.execute(connection, params).rowcount != 1:
            raise StaleDataError(f"UPDATE of {state.class_.__name__} {key} matched no row")
        # What the ORM does after its own UPDATE: every attribute now as the row holds it.
        state._commit_all(state.dict, session.identity_map)


class _Unchanged:
    """An object set back to what its row holds: nothing to send."""


_UNCHANGED = _Unchanged()
_Write = tuple[int, tuple[Any, ...], InstanceState[Any], Prepared, dict[str, Any]]


def _update_of(state: InstanceState[Any]) -> _Write | _Unchanged | None:
    """(table order, key, state, UPDATE, its parameters) for a changed object this path can
    write; `_UNCHANGED` for one with no net change; None for one it cannot (the ORM's)."""
    mapper = state.mapper
    if mapper.version_id_col is not None or len(mapper.tables) != 1 or state.key is None:
        return None
    table = mapper.local_table
    if not isinstance(table, Table):
        return None
    values: dict[str, Any] = {}
    current = state.dict
    for name, before in state.committed_state.items():
        prop = mapper.attrs.get(name)
        if not isinstance(prop, ColumnProperty) or len(prop.columns) != 1:
            return None
        value = current.get(name)
        if isinstance(value, ClauseElement) or prop.columns[0].primary_key:
            return None
        if before is value or (_comparable(before) and before == value):
            continue
        values[prop.columns[0].key] = value
    if not values:
        return _UNCHANGED
    columns = tuple(sorted(values))
    statement = _updates.get((table, columns))
    if statement is None:
        keys = [column.key for column in mapper.primary_key]
        statement = _updates.setdefault(
            (table, columns),
            Prepared(
                update(table)
                .where(*(table.c[k] == bindparam(f"k_{k}") for k in keys))
                .values({c: bindparam(f"v_{c}") for c in columns})
            ),
        )
    identity = state.key[1]
    params = {f"v_{c}": values[c] for c in columns}
    for column, value in zip(mapper.primary_key, identity, strict=True):
        params[f"k_{column.key}"] = value
    return _table_order(table), tuple(identity), state, statement, params


_order: dict[Table, int] = {}


def _table_order(table: Table) -> int:
    """The table's place in its metadata's dependency order (the ORM's flush order)."""
    found = _order.get(table)
    if found is None:
        for place, each in enumerate(table.metadata.sorted_tables):
            _order.setdefault(each, place)
        found = _order.setdefault(table, len(_order))
    return found


def _comparable(value: Any) -> bool:
    # NO_VALUE and friends (an attribute never loaded) compare as nothing: always written.
    return not isinstance(value, type(NO_VALUE))


@contextmanager
def watch(callback: Callable[[str], None]) -> Iterator[None]:
    """Tell `callback` the SQL of every prepared statement run meanwhile (tests: which
    statements ran, and which way)."""
    _watchers.append(callback)
    try:
        yield
    finally:
        _watchers.remove(callback)


def _compile(statement: Any, dialect: Dialect, columns_given: tuple[str, ...] | None) -> _Plan:
    compiled: Any = statement.compile(dialect=dialect, column_keys=columns_given)
    sql: str = compiled.string
    # (Columns an UPDATE sets to an SQL expression, `attempts = attempts + 1`, are "postfetched"
    # by the ORM after it: nothing here reads them back, so such a statement is plain.)
    if "POSTCOMPILE" in sql or compiled.escaped_bind_names:
        raise ValueError(f"not a plain statement: {sql}")
    by_name = {name: bind for bind, name in compiled.bind_names.items()}
    # Columns left out of an INSERT take their defaults (an UPDATE's, their onupdate), which
    # SQLAlchemy's execution would compute: only constant ones here.
    defaults = {}
    prefetched = [(c, c.default) for c in getattr(compiled, "insert_prefetch", ())]
    prefetched += [(c, c.onupdate) for c in getattr(compiled, "update_prefetch", ())]
    for column, default in prefetched:
        if default is None or not default.is_scalar:
            raise ValueError(f"not a constant default: {column}")
        defaults[column.key] = default.arg
    names: Sequence[str] = compiled.positiontup if compiled.positional else list(by_name)
    params = []
    for name in names:
        bind = by_name[name]
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if name in defaults:
            value = defaults[name]
            params.append((name, process(value) if process else value, None))
        elif bind.required:
            params.append((name, _REQUIRED, process))
        else:
            value = bind.effective_value
            params.append((name, process(value) if process else value, None))
    columns = list(getattr(statement, "exported_columns", ()))
    row: Any = None
    results: tuple[_Processor, ...] = ()
    if columns:
        row = _row_type(list(statement.exported_columns.keys()))
        results = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        )
    return _Plan(sql, compiled.positional, tuple(params), is_write(sql), row, results)


def _row_type(keys: list[str]) -> Any:
    # Rows read by name and by index, as SQLAlchemy's are; a tuple costs least to make.
    return namedtuple("Row", keys, rename=True)


def _values(plan: _Plan, params: Mapping[str, Any]) -> Any:
    if plan.positional:
        out: list[Any] = []
        for name, fixed, process in plan.params:
            if fixed is _REQUIRED:
                value = params[name]
                out.append(process(value) if process is not None else value)
            else:
                out.append(fixed)
        return without_nul(tuple(out))
    named: dict[str, Any] = {}
    for name, fixed, process in plan.params:
        if fixed is _REQUIRED:
            value = params[name]
            named[name] = process(value) if process is not None else value
        else:
            named[name] = fixed
    return without_nul(named)


def _row(plan: _Plan, raw: Sequence[Any]) -> Any:
    return plan.row._make(
        value if process is None else process(value)
        for value, process in zip(raw, plan.results, strict=True)
    )
