"""Events that change nothing take the short path without losing ordering or pending work."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from recording_harness import Harness, inbound_attrs
from sqlalchemy import func, select

from flexrec.db.models import ProcessedEvent
from flexrec.recording.policy import RecordingPolicy
from flexrec.twilio.fakes import fake_sid, unavailable

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
    assert len(h.media(TASK)) == 1
    # Flex tells us about the attributes we wrote: stored, nothing else to do.
    h.tr("task.updated", TASK, linked, ts_ms=T0 + 2000, status="pending")
    row = h.task_row(TASK)
    assert row is not None and row.attributes == linked
    return linked


def _dedup_keys(h: Harness) -> int:
    with h.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(ProcessedEvent)) or 0)


def test_a_repeat_moves_the_clock_so_a_late_older_event_cannot_undo_it(h: Harness) -> None:
    linked = _recorded_and_linked(h)
    keys = _dedup_keys(h)
    h.tr("task.updated", TASK, linked, ts_ms=T0 + 6000, status="pending")
    assert _dedup_keys(h) == keys  # the short path: no write beyond the timestamp
    row = h.task_row(TASK)
    assert row is not None and row.last_event_ms == T0 + 2000  # written in batches
    assert h.service.flush_settled() == 1
    row = h.task_row(TASK)
    assert row is not None and row.last_event_ms == T0 + 6000
    stale = {**inbound_attrs(CUSTOMER), "note": "older"}
    h.tr("task.updated", TASK, stale, ts_ms=T0 + 4000, status="pending")
    row = h.task_row(TASK)
    assert row is not None and row.attributes == linked
    assert len(h.twilio.recordings_on(CUSTOMER)) == 1


def test_a_changed_event_still_takes_the_full_path(h: Harness) -> None:
    linked = _recorded_and_linked(h)
    changed = {**linked, "note": "newer"}
    h.tr("task.updated", TASK, changed, ts_ms=T0 + 6000, status="assigned")
    row = h.task_row(TASK)
    assert row is not None
    assert (row.attributes, row.status) == (changed, "assigned")
    assert len(h.twilio.recordings_on(CUSTOMER)) == 1


def test_a_target_due_to_start_is_not_short_circuited(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    h.twilio.fail_next("list_recordings", unavailable())
    h.tr("task.created", TASK, inbound_attrs(CUSTOMER), ts_ms=T0, status="pending")
    assert h.target(CUSTOMER).state == "pending"
    h.clock.advance(600)  # past the backoff
    h.tr("task.updated", TASK, inbound_attrs(CUSTOMER), ts_ms=T0 + 2000, status="pending")
    assert h.target(CUSTOMER).state == "recording"
    assert len(h.twilio.recordings_on(CUSTOMER)) == 1


def test_repeats_are_answered_from_memory_once_the_database_said_settled(h: Harness) -> None:
    linked = _recorded_and_linked(h)
    event = h.parse_tr("task.updated", TASK, linked, ts_ms=T0 + 3000, status="pending")
    assert not h.service.is_settled_repeat(event)  # the last event changed the stored task
    h.service.handle_taskrouter_event(event)  # the database says: settled
    again = h.parse_tr("task.updated", TASK, linked, ts_ms=T0 + 3500, status="pending")
    assert h.service.is_settled_repeat(again)
    changed = h.parse_tr("task.updated", TASK, {**linked, "x": 1}, ts_ms=T0 + 4000)
    assert not h.service.is_settled_repeat(changed)
    wrapup = h.parse_tr("task.wrapup", TASK, linked, ts_ms=T0 + 4000, status="wrapping")
    assert not h.service.is_settled_repeat(wrapup)
    # Any planning of the task (here a change) makes the next repeat check the database again.
    h.tr("task.updated", TASK, {**linked, "x": 1}, ts_ms=T0 + 5000, status="pending")
    assert not h.service.is_settled_repeat(again)
    h.service.handle_taskrouter_event(again)  # older than the change: stored state stays
    row = h.task_row(TASK)
    assert row is not None and row.attributes == {**linked, "x": 1}
    h.service.flush_settled()  # the earlier repeats' times never move the clock backwards
    row = h.task_row(TASK)
    assert row is not None and row.last_event_ms == T0 + 5000
