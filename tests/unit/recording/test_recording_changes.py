"""Every change of what an agent's state is made of is announced by the database, whoever
writes it: the long polls' change feed depends on it (flexrec.recording.changes)."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from recording_harness import Harness, inbound_attrs
from sim_twilio import fake_sid
from sqlalchemy import text

from flexrec.db.base import Base
from flexrec.db.migrate import MIGRATIONS
from flexrec.recording import watch
from flexrec.recording.changes import TableChanges, prune_changes
from flexrec.recording.service import Actor

TASK = fake_sid("WT", 1)
OTHER_TASK = fake_sid("WT", 2)
CUSTOMER = fake_sid("CA", 1)
RES = fake_sid("WR", 1)
AGENT = fake_sid("WK", 1)
OWNER = Actor("alice", AGENT, ("agent",))


def _migration() -> ModuleType:
    path = next(MIGRATIONS.glob("versions/*_task_changes_announced.py"))
    spec = importlib.util.spec_from_file_location("announce_migration", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    harness.twilio.add_call(CUSTOMER)
    harness.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    yield harness
    harness.close()


def test_the_triggers_cover_every_table_the_state_is_made_of() -> None:
    statements: list[str] = []

    class Recorder:
        def execute(self, statement: Any) -> Any:
            statements.append(str(statement))
            return type("Rows", (), {"all": lambda _self: []})()

    watch.state_fingerprint(Recorder(), TASK, AGENT)  # type: ignore[arg-type]
    tables = set(Base.metadata.tables)
    read = {name for name in tables if re.search(rf"\b{name}\b", statements[0])}
    triggered = {table for _name, _event, table, _cols, _sid in _migration()._TRIGGERS}
    assert read and read <= triggered, read - triggered


def test_every_change_of_an_agents_state_is_announced(h: Harness) -> None:
    feed = TableChanges(h.sessions, sleep=lambda _s: None)
    attrs = inbound_attrs(CUSTOMER)
    steps: list[tuple[str, Any]] = [
        ("task created", lambda: h.tr("task.created", TASK, attrs, status="pending")),
        ("reservation accepted", lambda: h.tr(
            "reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT
        )),
        ("paused", lambda: h.service.pauses.pause(TASK, OWNER)),
        ("resumed", lambda: h.service.pauses.resume(TASK, OWNER)),
        ("task wrapping", lambda: h.tr(
            "reservation.wrapup", TASK, attrs, status="wrapping", reservation=RES, worker=AGENT
        )),
        ("call ended", lambda: h.call_status(CUSTOMER, "completed")),
        ("task completed", lambda: h.tr("task.completed", TASK, attrs, status="completed")),
    ]  # fmt: skip
    moved = 0
    for name, step in steps:
        before = h.service.pauses.state_fingerprint(TASK, OWNER)
        step()
        announced = feed.read()
        if h.service.pauses.state_fingerprint(TASK, OWNER) != before:
            moved += 1
            assert TASK in announced, f"{name} moved the state unannounced"
    assert moved >= 5


def test_a_write_that_changes_nothing_shown_is_not_announced(h: Harness) -> None:
    h.tr("task.created", TASK, inbound_attrs(CUSTOMER), status="pending")
    feed = TableChanges(h.sessions, sleep=lambda _s: None)
    h.tr("task.updated", TASK, {**inbound_attrs(CUSTOMER), "note": "x"}, status="pending")
    assert TASK not in feed.read()


def test_old_announcements_are_pruned(h: Harness) -> None:
    h.tr("task.created", TASK, inbound_attrs(CUSTOMER), status="pending")
    feed = TableChanges(h.sessions, sleep=lambda _s: None)
    feed.cursor = 0
    assert prune_changes(h.sessions, now_s=4_000_000_000) >= 1
    assert feed.read() == set()


def test_every_trigger_survives_the_migrations_after_it(h: Harness) -> None:
    # A later batch_alter_table of one of these tables on SQLite rebuilds it without them.
    with h.engine.connect() as conn:
        present = set(
            conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars()
        )
    wanted = {f"flexrec_announce_{name}" for name, *_rest in _migration()._TRIGGERS}
    assert wanted <= present, wanted - present


def test_the_target_columns_a_state_shows_are_the_ones_announced() -> None:
    statements: list[str] = []

    class Recorder:
        def execute(self, statement: Any) -> Any:
            statements.append(str(statement))
            return type("Rows", (), {"all": lambda _self: []})()

    watch.state_fingerprint(Recorder(), TASK, AGENT)  # type: ignore[arg-type]
    shown = set(re.findall(r"recording_targets\.(\w+)", statements[0]))
    bookkeeping = {"id", "updated_at"}  # the row's key; moves with every write, claims too
    assert shown - bookkeeping <= set(_migration()._TARGET_COLUMNS), shown - bookkeeping
