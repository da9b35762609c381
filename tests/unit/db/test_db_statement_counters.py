"""The database counters sizing relies on: statements sent and write transactions, per engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine, text

from flexrec.db.base import make_engine
from flexrec.db.metrics import is_write


def _counts() -> tuple[float, float]:
    return (
        REGISTRY.get_sample_value("flexrec_db_statements_total") or 0.0,
        REGISTRY.get_sample_value("flexrec_db_write_transactions_total") or 0.0,
    )


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'counted.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    yield engine
    engine.dispose()


def _delta(before: tuple[float, float]) -> tuple[float, float]:
    after = _counts()
    return after[0] - before[0], after[1] - before[1]


def test_a_read_only_transaction_counts_its_statements_and_no_write(engine: Engine) -> None:
    before = _counts()
    with engine.connect() as conn:
        conn.execute(text("SELECT count(*) FROM t")).scalar_one()
        conn.execute(text("SELECT v FROM t WHERE id = 1")).all()
        conn.commit()
    assert _delta(before) == (2, 0)


def test_a_transaction_with_writes_is_one_write_transaction(engine: Engine) -> None:
    before = _counts()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
        conn.execute(text("UPDATE t SET v = 'b'"))
    assert _delta(before) == (2, 1)


def test_taking_the_write_lock_counts_even_without_a_write(engine: Engine) -> None:
    before = _counts()
    with engine.connect() as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        conn.execute(text("SELECT count(*) FROM t")).scalar_one()
        conn.commit()
    assert _delta(before) == (2, 1)


def test_a_rolled_back_write_is_counted_once(engine: Engine) -> None:
    before = _counts()
    with engine.connect() as conn:
        conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
        conn.rollback()
        conn.execute(text("SELECT 1")).scalar_one()
        conn.commit()
    assert _delta(before) == (2, 1)


@pytest.mark.parametrize(
    ("statement", "writes"),
    [
        ("INSERT INTO t VALUES (1)", True),
        ("  update t set v = 1", True),
        ("DELETE FROM t", True),
        ("BEGIN IMMEDIATE", True),
        ("SELECT * FROM t WHERE id = 1 FOR UPDATE", True),
        ("SELECT * FROM t", False),
        ("SELECT 'FOR UPDATE' AS v, id FROM t WHERE id > 100 ORDER BY id LIMIT 5000", False),
        ("BEGIN", False),
    ],
)
def test_which_statements_take_the_write_lock(statement: str, writes: bool) -> None:
    assert is_write(statement) is writes


def test_row_locks_as_sqlalchemy_renders_them_take_the_write_lock() -> None:
    assert is_write("SELECT t.id FROM t WHERE t.id = %(id)s FOR UPDATE OF t NOWAIT")
    assert is_write("SELECT t.id FROM t FOR NO KEY UPDATE SKIP LOCKED")
