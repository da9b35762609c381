"""TaskRouter events cost what they change: nothing new is no database at all, a status that
moves on is one short write, and a memo that no longer holds gives way to the full path."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
from recording_harness import Harness, inbound_attrs, with_conference
from sim_twilio import fake_sid
from sqlalchemy import event, select, update
from testkit import assert_recorded_exactly_once

from flexrec.db.models import ConferenceParticipantRecord, ReservationRecord, TaskRecord
from flexrec.db.prepared import watch

TASK = fake_sid("WT", 1)
CUSTOMER = fake_sid("CA", 1)
RES = fake_sid("WR", 1)
OFFERED = fake_sid("WR", 2)
AGENT = fake_sid("WK", 1)
OTHER_AGENT = fake_sid("WK", 2)


@contextmanager
def statements(h: Harness) -> Iterator[list[str]]:
    """Every SQL statement the service runs meanwhile (BEGIN included: a write transaction):
    its verb when it ran prepared on the driver's cursor, `sqlalchemy:` and its verb when it
    went through SQLAlchemy's execution (about ten times the CPU)."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append("sqlalchemy:" + statement.split(None, 1)[0].upper())

    event.listen(h.engine, "before_cursor_execute", count)
    try:
        with watch(lambda statement: seen.append(statement.split(None, 1)[0].upper())):
            yield seen
    finally:
        event.remove(h.engine, "before_cursor_execute", count)


def answered(h: Harness) -> dict[str, Any]:
    h.twilio.add_call(CUSTOMER)
    attrs = inbound_attrs(CUSTOMER)
    h.twilio.add_task(TASK, attrs)
    h.tr("task.created", TASK, attrs, status="pending")
    h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
    assert_recorded_exactly_once(h.twilio, CUSTOMER)
    return dict(h.twilio.tasks[TASK].attributes)  # with the link


def test_an_event_that_changes_nothing_touches_no_database(h: Harness) -> None:
    linked = answered(h)
    h.tr("task.updated", TASK, linked, status="assigned")  # our link write, as TaskRouter says
    repeat = h.parse_tr("task.updated", TASK, linked, status="assigned")
    h.service.task_events.handle(repeat)
    with statements(h) as seen:
        h.service.task_events.handle(repeat)  # a redelivery
    assert seen == []


def test_the_echo_of_our_own_link_write_is_answered_from_memory(h: Harness) -> None:
    # The link's write stored the attributes it wrote in the task row, in the transaction that
    # marked it done: TaskRouter's task.updated of that write changes nothing the row holds.
    linked = answered(h)
    with statements(h) as seen:
        h.tr("task.updated", TASK, linked, status="assigned")
    assert seen == [], seen
    with h.sessions() as session:
        task = session.get(TaskRecord, TASK)
        assert task is not None and task.attributes == linked


def test_a_status_that_moves_on_is_one_short_write(h: Harness) -> None:
    linked = answered(h)
    h.tr("task.updated", TASK, linked, status="assigned")
    with statements(h) as seen:
        h.tr("reservation.wrapup", TASK, linked, status="wrapping", reservation=RES, worker=AGENT)
    # The wrap-up asks whether a pause waits to be undone (a read), then one transaction: the
    # task's status and the reservation's, each one UPDATE (no planner: nothing it reads moved),
    # begun by the first UPDATE itself (no BEGIN statement); all three prepared statements.
    assert seen == ["SELECT", "UPDATE", "UPDATE"], seen
    with h.sessions() as session:
        task = session.get(TaskRecord, TASK)
        reservation = session.get(ReservationRecord, RES)
        assert task is not None and reservation is not None
        assert (task.status, reservation.status) == ("wrapping", "wrapping")


def test_a_settled_call_s_leg_callbacks_run_prepared_statements_only(h: Harness) -> None:
    linked = with_conference(answered(h), fake_sid("CA", 8), CUSTOMER)
    h.tr("task.updated", TASK, linked, status="assigned")  # Flex wrote the conference
    with statements(h) as seen:
        # The leg's row and its hold's time, nothing of the task.
        h.conference("participant-hold", CUSTOMER, "customer", TASK)
        h.call_status(fake_sid("CA", 9), "completed")  # a leg never to be recorded: one read
    assert seen == ["INSERT", "INSERT", "SELECT"], seen


def test_a_settled_call_s_leave_of_a_known_leg_writes_nothing_and_still_looks_later(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    linked = with_conference(answered(h), fake_sid("CA", 8), CUSTOMER)
    h.tr("task.updated", TASK, linked, status="assigned")  # Flex wrote the conference
    h.conference("participant-join", CUSTOMER, "customer", TASK)
    looked: list[Sequence[int]] = []
    monkeypatch.setattr(h.service.intake.recovery, "schedule_refresh", looked.append)
    with statements(h) as seen:
        h.conference("participant-leave", CUSTOMER, "customer", TASK)
    # Its row known (one read), its live recording read to be looked at later: no write.
    assert seen == ["SELECT", "SELECT"], seen
    assert looked == [[h.target(CUSTOMER).id]]
    # A leg whose join never came gets its row (the coverage report's roles).
    other = fake_sid("CA", 9)
    with statements(h) as seen:
        h.conference("participant-leave", other, "worker", TASK)
    assert seen == ["SELECT", "INSERT", "SELECT"], seen
    with h.sessions() as session:
        row = session.scalars(
            select(ConferenceParticipantRecord).where(ConferenceParticipantRecord.call_sid == other)
        ).one()
        assert (row.label, row.joined) == ("worker", False)


def test_a_reservation_offered_and_not_taken_leaves_no_row(h: Harness) -> None:
    linked = answered(h)
    h.tr("task.updated", TASK, linked, status="assigned")
    attrs = inbound_attrs(CUSTOMER)
    h.tr("reservation.created", TASK, attrs, status="assigned", reservation=OFFERED,
         worker=OTHER_AGENT)  # fmt: skip
    h.tr("reservation.rejected", TASK, attrs, status="assigned", reservation=OFFERED,
         worker=OTHER_AGENT)  # fmt: skip
    with h.sessions() as session:
        assert session.get(ReservationRecord, OFFERED) is None
    # Taken after all: now it has its row, accepted.
    h.tr("reservation.created", TASK, attrs, status="assigned", reservation=fake_sid("WR", 3),
         worker=OTHER_AGENT)  # fmt: skip
    h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=fake_sid("WR", 3),
         worker=OTHER_AGENT)  # fmt: skip
    with h.sessions() as session:
        taken = session.get(ReservationRecord, fake_sid("WR", 3))
        assert taken is not None and taken.status == "accepted"
        assert taken.worker_sid == OTHER_AGENT


def test_a_memo_that_no_longer_holds_gives_way_to_the_full_path(h: Harness) -> None:
    linked = answered(h)
    h.tr("task.updated", TASK, linked, status="assigned")
    before = h.next_ms()
    # Another process applied a newer event behind this one's memo.
    newer = {**linked, "crm": {"case": 42}}
    with h.sessions.begin() as session:
        session.execute(
            update(TaskRecord)
            .where(TaskRecord.sid == TASK)
            .values(attributes=newer, last_event_ms=before + 10_000, updated_at=h.clock())
        )
    # An older event, delayed: the memo would take it for the newest and store its attributes.
    h.tr("task.updated", TASK, linked, ts_ms=before + 5_000, status="assigned")
    with h.sessions() as session:
        task = session.get(TaskRecord, TASK)
        assert task is not None
        # The conditional write failed, the full path merged it over the row as it is.
        assert (task.attributes, task.last_event_ms) == (newer, before + 10_000)
    assert h.service.task_events.memos.get(TASK) is not None  # filled again from the row


def test_a_clock_held_in_the_memo_orders_the_full_path_s_merge_too(h: Harness) -> None:
    linked = answered(h)
    with h.sessions() as session:
        task = session.get(TaskRecord, TASK)
        assert task is not None
        row_clock = task.last_event_ms
    written = h.next_ms()
    # The echo of our link write: the row took its attributes with the link, only the clock moved.
    h.tr("task.updated", TASK, linked, ts_ms=written, status="assigned")
    held = written + 10_000
    h.tr("task.updated", TASK, linked, ts_ms=held, status="assigned")  # only the clock moved
    with h.sessions() as session:
        task = session.get(TaskRecord, TASK)
        assert task is not None and task.last_event_ms == row_clock  # held in the memo only
    # Another process's conference callback wrote the row behind the memo.
    h.clock.advance(1)
    with h.sessions.begin() as session:
        session.execute(
            update(TaskRecord).where(TaskRecord.sid == TASK).values(updated_at=h.clock())
        )
    # An older event, delayed, that teaches the conference (legs are learned from any event):
    # the memo's write does not hold, and the full path merges it against the held clock.
    older = with_conference(linked, fake_sid("CA", 8), CUSTOMER)
    h.tr("task.wrapup", TASK, older, ts_ms=held - 5_000, status="wrapping")
    with h.sessions() as session:
        task = session.get(TaskRecord, TASK)
        assert task is not None
        assert task.conference_sid is not None  # learned
        assert (task.status, task.attributes, task.last_event_ms) == ("assigned", linked, held)


def test_a_new_task_is_one_insert_and_planning_reads_no_objects(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    attrs = inbound_attrs(CUSTOMER)
    h.twilio.add_task(TASK, attrs)
    with statements(h) as seen:
        h.tr("task.created", TASK, attrs, status="pending")
    # The row goes in with the event's facts (no look for it first, no INSERT then UPDATE);
    # the planner's decision is written as a prepared UPDATE of what it changed, nothing goes
    # through SQLAlchemy's execution (flexrec.db.prepared.write_changes).
    assert seen[:3] == ["BEGIN", "INSERT", "UPDATE"], seen
    assert [s for s in seen if s.startswith("sqlalchemy:")] == [], seen
    with h.sessions() as session:
        task = session.get(TaskRecord, TASK)
        assert task is not None
        assert (task.status, task.attributes) == ("pending", attrs)
        assert task.customer_call_sid == CUSTOMER
        assert task.policy_decision is not None
    # A worker takes it: the plan path locks and reads the row as plain columns too.
    with statements(h) as seen:
        h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
    assert_recorded_exactly_once(h.twilio, CUSTOMER)
    assert not [s for s in seen if s.startswith("sqlalchemy:SELECT")], seen
