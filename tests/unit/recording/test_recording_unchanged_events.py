"""Events that change nothing: ordering kept, pending work still done, a redelivery handled once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from recording_harness import Harness, inbound_attrs
from sim_twilio import fake_sid, unavailable
from sqlalchemy import func, select
from testkit import assert_one_voice_recording, assert_recorded_exactly_once

from flexrec.db.models import ProcessedEvent
from flexrec.db.prepared import watch
from flexrec.recording.policy import RecordingPolicy

TASK = fake_sid("WT", 1)
CUSTOMER = fake_sid("CA", 1)
T0 = 1_795_000_000_000


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path, RecordingPolicy(start_on="task"))
    yield harness
    harness.close()


def _recorded_and_linked(h: Harness) -> dict[str, object]:
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    h.tr("task.created", TASK, inbound_attrs(CUSTOMER), ts_ms=T0, status="pending")
    linked = dict(h.twilio.tasks[TASK].attributes)
    assert_one_voice_recording(h.twilio.tasks[TASK].attributes)
    # Flex tells us about the attributes we wrote: the link's write stored them already, so
    # only the clock moves (held in the memo), nothing else to do.
    h.tr("task.updated", TASK, linked, ts_ms=T0 + 2000, status="pending")
    row = h.task_row(TASK)
    assert row is not None and row.attributes == linked
    return linked


def _dedup_keys(h: Harness) -> int:
    with h.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(ProcessedEvent)) or 0)


def test_a_repeat_moves_the_memo_s_clock_so_a_late_older_event_cannot_undo_it(
    h: Harness,
) -> None:
    linked = _recorded_and_linked(h)
    with watch(lambda sql: pytest.fail(f"a repeat wrote: {sql}")):
        h.tr("task.updated", TASK, linked, ts_ms=T0 + 6000, status="pending")
    row = h.task_row(TASK)
    assert row is not None and row.last_event_ms == T0  # only the memo has the clock
    stale = {**inbound_attrs(CUSTOMER), "note": "older"}
    h.tr("task.updated", TASK, stale, ts_ms=T0 + 4000, status="reserved")
    row = h.task_row(TASK)
    assert row is not None and (row.attributes, row.status) == (linked, "pending")
    # The next real change writes the held clock with it.
    h.tr("task.updated", TASK, linked, ts_ms=T0 + 5000, status="reserved")
    row = h.task_row(TASK)
    assert row is not None and (row.status, row.last_event_ms) == ("pending", T0)
    h.tr("task.updated", TASK, linked, ts_ms=T0 + 7000, status="reserved")
    row = h.task_row(TASK)
    assert row is not None and (row.status, row.last_event_ms) == ("reserved", T0 + 7000)
    assert_recorded_exactly_once(h.twilio, CUSTOMER)
    assert_one_voice_recording(h.twilio.tasks[TASK].attributes)


def test_a_clock_lost_in_a_restart_costs_a_late_event_s_facts_until_the_next_one(
    h: Harness,
) -> None:
    linked = _recorded_and_linked(h)
    h.tr("task.updated", TASK, linked, ts_ms=T0 + 6000, status="pending")  # held, not written
    h.service = h.make_service(RecordingPolicy(start_on="task"))  # kill -9: the memo is gone
    requests = len(h.twilio.requests)
    # Older than the lost clock, newer than the row's: taken as the newest (the cost the
    # task memo's docstring names), and harmless: the link it lacks is checked against Twilio,
    # which still holds it, so nothing is written or recorded again.
    stale = {**inbound_attrs(CUSTOMER), "note": "older"}
    h.tr("task.updated", TASK, stale, ts_ms=T0 + 4000, status="pending")
    row = h.task_row(TASK)
    assert row is not None and (row.attributes, row.last_event_ms) == (stale, T0 + 4000)
    writes = {"update_task_attributes", "create_recording", "update_recording"}
    assert [op for op, _ in h.twilio.requests[requests:] if op in writes] == []
    assert_one_voice_recording(h.twilio.tasks[TASK].attributes)
    assert_recorded_exactly_once(h.twilio, CUSTOMER)
    # Still ordered right against what the row holds, and the task's next event puts it back.
    h.tr("task.updated", TASK, linked, ts_ms=T0 + 3000, status="pending")
    assert h.task_row(TASK).attributes == stale  # type: ignore[union-attr]
    h.tr("task.updated", TASK, linked, ts_ms=T0 + 8000, status="pending")
    row = h.task_row(TASK)
    assert row is not None and (row.attributes, row.last_event_ms) == (linked, T0 + 8000)
    assert_recorded_exactly_once(h.twilio, CUSTOMER)


def test_a_redelivered_repeat_changes_nothing_and_leaves_no_mark(h: Harness) -> None:
    linked = _recorded_and_linked(h)
    requests = len(h.twilio.requests)
    event = h.parse_tr("task.updated", TASK, linked, ts_ms=T0 + 3000, status="pending")
    h.service.task_events.handle(event)
    h.service.task_events.handle(event)
    # Idempotent rows need no seen-mark (a row per event was a write per event).
    assert _dedup_keys(h) == 0
    assert len(h.twilio.requests) == requests
    assert_recorded_exactly_once(h.twilio, CUSTOMER)
    row = h.task_row(TASK)
    assert row is not None and row.attributes == linked
    memo = h.service.task_events.memos.get(TASK)
    assert memo is not None and memo.state.last_event_ms == T0 + 3000


def test_a_changed_event_still_takes_the_full_path(h: Harness) -> None:
    linked = _recorded_and_linked(h)
    changed = {**linked, "note": "newer"}
    h.tr("task.updated", TASK, changed, ts_ms=T0 + 6000, status="assigned")
    row = h.task_row(TASK)
    assert row is not None
    assert (row.attributes, row.status) == (changed, "assigned")
    assert_recorded_exactly_once(h.twilio, CUSTOMER)


def test_a_target_due_to_start_is_not_short_circuited(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    h.twilio.fail_next("create_recording", unavailable())
    h.tr("task.created", TASK, inbound_attrs(CUSTOMER), ts_ms=T0, status="pending")
    assert h.target(CUSTOMER).state == "pending"
    h.clock.advance(600)  # past the backoff
    h.tr("task.updated", TASK, inbound_attrs(CUSTOMER), ts_ms=T0 + 2000, status="pending")
    assert h.target(CUSTOMER).state == "recording"
    assert_recorded_exactly_once(h.twilio, CUSTOMER)


def test_a_repeat_is_answered_from_memory_without_the_database_or_a_thread(h: Harness) -> None:
    linked = _recorded_and_linked(h)
    events = h.service.task_events
    with watch(lambda sql: pytest.fail(f"a repeat touched the database: {sql}")):
        assert events.answer_from_memory(
            h.parse_tr("task.updated", TASK, linked, ts_ms=T0 + 6000, status="pending")
        )
    memo = events.memos.get(TASK)
    assert memo is not None and memo.state.last_event_ms == T0 + 6000  # the memo has the clock
    row = h.task_row(TASK)
    assert row is not None and row.last_event_ms == T0  # the link's echo moved only the memo


def test_what_needs_the_database_is_left_to_the_handler(h: Harness) -> None:
    linked = _recorded_and_linked(h)
    events = h.service.task_events
    memo = events.memos.get(TASK)
    status_moved = h.parse_tr("task.updated", TASK, linked, ts_ms=T0 + 6000, status="reserved")
    assert not events.answer_from_memory(status_moved)
    assert events.memos.get(TASK) is memo  # untouched: `handle` applies it
    # A wrap-up may have a pause to undo (read from the database): never from memory.
    wrapup = h.parse_tr("task.wrapup", TASK, linked, ts_ms=T0 + 6000, status="pending")
    assert not events.answer_from_memory(wrapup)
    # A task this process has no memo of.
    other = h.parse_tr("task.updated", fake_sid("WT", 2), linked, ts_ms=T0, status="pending")
    assert not events.answer_from_memory(other)
    # A handler of the task holds its lock: the event waits for it on a thread, in turn.
    repeat = h.parse_tr("task.updated", TASK, linked, ts_ms=T0 + 6000, status="pending")
    with events.memos.lock(TASK):
        assert not events.answer_from_memory(repeat)
    assert events.answer_from_memory(repeat)
