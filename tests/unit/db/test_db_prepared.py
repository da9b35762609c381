"""Prepared statements on the driver's cursor give what SQLAlchemy's execution gives: the same
typed rows, the same counters, the caller's transaction, SQLAlchemy's errors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    event,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from flexrec.db.base import make_engine, make_session_factory
from flexrec.db.migrate import upgrade
from flexrec.db.models import ConferenceParticipantRecord, TaskRecord
from flexrec.db.prepared import Prepared, attached, watch, write_changes
from flexrec.recording.store import insert_returning, write_session

NOW = datetime(2026, 12, 7, 8, 30, 15, 123456, tzinfo=UTC)
_TASK = select(
    TaskRecord.sid, TaskRecord.status, TaskRecord.attributes, TaskRecord.updated_at
).where(TaskRecord.sid == bindparam("sid"))
_SET_STATUS = (
    update(TaskRecord)
    .where(TaskRecord.sid == bindparam("b_sid"))
    .values(status=bindparam("status"), attributes=bindparam("attributes"))
)


def _counts() -> tuple[float, float]:
    return (
        REGISTRY.get_sample_value("flexrec_db_statements_total") or 0.0,
        REGISTRY.get_sample_value("flexrec_db_write_transactions_total") or 0.0,
    )


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'prepared.db'}"
    upgrade(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            TaskRecord.__table__.insert(),
            [
                {"sid": f"WT{i}", "status": "pending", "attributes": {"n": i, "to": "+1555"},
                 "created_at": NOW, "updated_at": NOW}
                for i in range(3)
            ],
        )  # fmt: skip
    yield engine
    engine.dispose()


def test_rows_are_what_sqlalchemy_returns_typed_and_named(engine: Engine) -> None:
    prepared = Prepared(_TASK)
    with engine.connect() as conn:
        expected = conn.execute(_TASK, {"sid": "WT1"}).one()
        got = prepared.execute(conn, {"sid": "WT1"}).first()
    assert tuple(got) == tuple(expected)
    assert got.updated_at == NOW and got.updated_at.tzinfo is not None  # not SQLite's text
    assert got.attributes == {"n": 1, "to": "+1555"}  # JSON decoded
    assert (got.sid, got[1]) == ("WT1", "pending")


def test_a_write_on_a_fresh_connection_commits_and_counts_once(engine: Engine) -> None:
    # The driver's statement alone would leave SQLAlchemy's commit a no-op and the pool's
    # reset a rollback: the write would be lost.
    before = _counts()
    with engine.connect() as conn:
        result = Prepared(_SET_STATUS).execute(
            conn, {"b_sid": "WT2", "status": "assigned", "attributes": {"x": [1]}}
        )
        conn.commit()
    assert result.rowcount == 1
    assert (_counts()[0] - before[0], _counts()[1] - before[1]) == (1, 1)
    with engine.connect() as conn:
        row = conn.execute(_TASK, {"sid": "WT2"}).one()
    assert (row.status, row.attributes) == ("assigned", {"x": [1]})


def test_sqlalchemy_listeners_do_not_see_it_but_watchers_do(engine: Engine) -> None:
    through_sqlalchemy: list[str] = []
    prepared: list[str] = []

    def listener(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        through_sqlalchemy.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    with watch(prepared.append), engine.connect() as conn:
        Prepared(_TASK).execute(conn, {"sid": "WT0"})
    event.remove(engine, "before_cursor_execute", listener)
    assert through_sqlalchemy == []
    assert len(prepared) == 1 and prepared[0].startswith("SELECT")


def test_nul_characters_are_replaced_as_on_the_ordinary_path(engine: Engine) -> None:
    with engine.connect() as conn:
        Prepared(_SET_STATUS).execute(conn, {"b_sid": "WT0", "status": "a\x00b", "attributes": {}})
        conn.commit()
        assert conn.execute(_TASK, {"sid": "WT0"}).one().status == "a\ufffdb"


def test_an_insert_left_columns_take_their_defaults_and_a_conflict_returns_no_row(
    engine: Engine,
) -> None:
    table = ConferenceParticipantRecord.__table__
    insert = Prepared(
        lambda dialect: insert_returning(
            dialect, table, ("conference_sid", "call_sid"), (table.c.joined, table.c.hold)
        )
    )
    row = {"conference_sid": "CF1", "call_sid": "CA1", "updated_at": NOW}
    with engine.connect() as conn:
        first = insert.execute(conn, row).first()
        again = insert.execute(conn, row).first()
        conn.commit()
    assert (first.joined, first.hold) == (True, False)  # the model's defaults, as booleans
    assert again is None


def test_driver_errors_are_sqlalchemy_errors(engine: Engine) -> None:
    # Contention retries and error translation catch SQLAlchemy's exceptions, not sqlite3's.
    insert = Prepared(TaskRecord.__table__.insert())
    with engine.connect() as conn, pytest.raises(IntegrityError):
        insert.execute(conn, {"sid": "WT0", "created_at": NOW, "updated_at": NOW})


def test_an_expanding_parameter_is_refused(engine: Engine) -> None:
    prepared = Prepared(
        select(TaskRecord.sid).where(TaskRecord.sid.in_(bindparam("sids", expanding=True)))
    )
    with engine.connect() as conn, pytest.raises(ValueError, match="not a plain statement"):
        prepared.execute(conn, {"sids": ["WT0"]})


def test_an_update_to_an_expression_of_the_row_runs_and_counts_its_rows(engine: Engine) -> None:
    # `attempts = attempts + :tries` (a link marked written): SQLAlchemy would fetch such a
    # column back for the ORM; a plain statement has nothing to fetch.
    bump = Prepared(
        update(TaskRecord)
        .where(TaskRecord.sid == bindparam("task"))
        .values(last_event_ms=TaskRecord.last_event_ms + bindparam("d"), queue_name=None)
    )
    with engine.connect() as conn:
        conn.execute(update(TaskRecord).values(last_event_ms=2, queue_name="Sales"))
        assert bump.execute(conn, {"task": "WT0", "d": 3}).rowcount == 1
        assert bump.execute(conn, {"task": "WT9", "d": 3}).rowcount == 0
        conn.commit()
        rows = conn.execute(
            select(TaskRecord.last_event_ms, TaskRecord.queue_name).order_by(TaskRecord.sid)
        ).all()
    assert [tuple(row) for row in rows] == [(5, None), (2, "Sales"), (2, "Sales")]


def test_an_update_takes_a_constant_onupdate_and_refuses_a_computed_one(engine: Engine) -> None:
    metadata = MetaData()
    table = Table(
        "prepared_onupdate",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("name", String(10)),
        Column("version", Integer, onupdate=7),
        Column("seen", Integer, onupdate=lambda: 1),
    )
    metadata.create_all(engine)
    with engine.connect() as conn:
        conn.execute(table.insert(), {"id": 1, "name": "a", "version": 1, "seen": 0})
        rename = table.update().where(table.c.id == bindparam("b_id"))
        constant = Prepared(rename.values(name=bindparam("name"), seen=0))
        assert constant.execute(conn, {"b_id": 1, "name": "b"}).rowcount == 1
        assert tuple(conn.execute(select(table.c.name, table.c.version)).one()) == ("b", 7)
        with pytest.raises(ValueError, match="not a constant default"):
            Prepared(rename.values(name=bindparam("name"))).execute(conn, {"b_id": 1, "name": "c"})


def _sql_seen(engine: Engine) -> Iterator[list[str]]:
    """Every statement sent, both ways (SQLAlchemy's execution and prepared), first word only
    for SQLAlchemy's (its own UPDATEs are the ORM's flush)."""
    seen: list[str] = []

    def on_execute(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        seen.append("orm " + statement.split(None, 1)[0].upper())

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        with watch(lambda sql: seen.append("prepared " + sql)):
            yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)


def test_write_changes_sends_one_prepared_update_of_the_changed_columns(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    with write_session(sessions) as session:
        loaded = {"sid": "WT1", "status": "pending", "queue_name": None}
        task = attached(session, TaskRecord, loaded)
        task.status = "assigned"
        task.queue_name = None  # set to what it holds: no change, not written
        with contextlib.contextmanager(_sql_seen)(engine) as seen:
            write_changes(session)
            assert not session.dirty  # as after the ORM's flush
            session.flush()  # nothing left for the ORM
        assert seen == [
            "prepared UPDATE tasks SET status=? WHERE tasks.sid = ?",
        ]
    with sessions() as session:
        row = session.get(TaskRecord, "WT1")
        assert row is not None and (row.status, row.attributes) == (
            "assigned",
            {"n": 1, "to": "+1555"},
        )


def test_a_write_session_writes_its_changes_prepared_before_each_statement_and_commit(
    engine: Engine,
) -> None:
    sessions = make_session_factory(engine)
    read = Prepared(_TASK)
    with contextlib.contextmanager(_sql_seen)(engine) as seen, write_session(sessions) as session:
        task = session.get(TaskRecord, "WT0")
        assert task is not None
        task.attributes = {"n": 0, "to": "+1555", "new": True}
        row = read.execute(session, {"sid": "WT0"}).first()  # sees the change: written first
        assert row.attributes == {"n": 0, "to": "+1555", "new": True}
        task.status = "wrapping"
    orm_updates = [s for s in seen if s == "orm UPDATE"]
    prepared_updates = [s for s in seen if s.startswith("prepared UPDATE tasks")]
    assert (len(orm_updates), len(prepared_updates)) == (0, 2)
    with sessions() as session:
        found = session.get(TaskRecord, "WT0")
        assert found is not None and found.status == "wrapping"


def test_what_write_changes_cannot_write_is_left_to_the_orm(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    with contextlib.contextmanager(_sql_seen)(engine) as seen, write_session(sessions) as session:
        session.add(TaskRecord(sid="WT9", status="pending", created_at=NOW, updated_at=NOW))
        task = attached(session, TaskRecord, {"sid": "WT2", "status": "pending"})
        task.status = func.upper(TaskRecord.status)  # an SQL expression: the ORM's to send
    assert "orm INSERT" in seen and "orm UPDATE" in seen
    assert not [s for s in seen if s.startswith("prepared UPDATE")]
    with sessions() as session:
        assert session.get(TaskRecord, "WT9") is not None
        found = session.get(TaskRecord, "WT2")
        assert found is not None and found.status == "PENDING"


def test_a_change_to_a_row_gone_raises_as_the_orm_does(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    with pytest.raises(StaleDataError), write_session(sessions) as session:
        task = attached(session, TaskRecord, {"sid": "WT404", "status": "pending"})
        task.status = "assigned"
