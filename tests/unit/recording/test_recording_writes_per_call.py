"""What one answered inbound call's TaskRouter events cost the database, as a configured
account delivers them (the EventsFilter `flexrec setup` writes): write transactions, counted."""

from __future__ import annotations

from prometheus_client import REGISTRY
from recording_harness import Harness, inbound_attrs, with_conference
from sim_twilio import fake_sid

from flexrec.db.models import ReservationRecord, TaskRecord
from flexrec.webhooks.events import TASKROUTER_EVENTS_USED

TASK = fake_sid("WT", 1)
RES = fake_sid("WR", 1)
AGENT = fake_sid("WK", 1)
CUSTOMER = fake_sid("CA", 1)

# Flex's events for the call, in TaskRouter's order, with the task status each carries.
CALL = (
    ("task.created", "pending"),
    ("reservation.created", "reserved"),  # the offer ringing at the agent
    ("reservation.accepted", "assigned"),
    ("reservation.wrapup", "assigned"),
    ("task.wrapup", "wrapping"),
    ("reservation.completed", "wrapping"),
    ("task.completed", "completed"),
)


def _write_transactions() -> float:
    return REGISTRY.get_sample_value("flexrec_db_write_transactions_total") or 0.0


def _writes_by_event(h: Harness, delivered: tuple[str, ...]) -> dict[str, float]:
    h.twilio.add_call(CUSTOMER)
    task = h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    writes: dict[str, float] = {}
    for event_type, status in CALL:
        if event_type not in delivered:
            continue
        before = _write_transactions()
        reservation = RES if event_type.startswith("reservation.") else None
        worker = AGENT if reservation else None
        # Each event carries the task's attributes as they are then (the link written in).
        attrs = task.attributes
        h.tr(event_type, TASK, attrs, status=status, reservation=reservation, worker=worker)
        writes[event_type] = _write_transactions() - before
    return writes


def test_the_offer_ringing_is_not_asked_for_and_costs_the_call_no_write(h: Harness) -> None:
    writes = _writes_by_event(h, TASKROUTER_EVENTS_USED)
    assert "reservation.created" not in writes
    # The task stored; the answer: the plan (a claimed target, a pending link), the recording
    # stored as started, the link written (the harness runs the plan's work inline); then
    # each end of the work moves one row, but the reservation's completion: the task's
    # completion, next, completes it in its own transaction.
    assert writes == {
        "task.created": 1,
        "reservation.accepted": 3,
        "reservation.wrapup": 1,
        "task.wrapup": 1,
        "reservation.completed": 0,
        "task.completed": 1,
    }
    assert h.twilio.recordings_on(CUSTOMER)
    assert _statuses(h) == ("completed", "completed")


def _statuses(h: Harness) -> tuple[str | None, str | None]:
    with h.sessions() as session:
        task = session.get(TaskRecord, TASK)
        reservation = session.get(ReservationRecord, RES)
        return (task.status if task else None, reservation.status if reservation else None)


def test_a_reservation_completion_held_back_and_lost_is_completed_with_its_task(
    h: Harness,
) -> None:
    # The process that held reservation.completed back dies before task.completed (kill -9:
    # its memos go with it); the next one takes the completion on the full path.
    h.twilio.add_call(CUSTOMER)
    task = h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    for event_type, status in CALL[:-1]:
        if event_type in TASKROUTER_EVENTS_USED:
            reservation = RES if event_type.startswith("reservation.") else None
            worker = AGENT if reservation else None
            h.tr(event_type, TASK, task.attributes, status=status, reservation=reservation,
                 worker=worker)  # fmt: skip
    assert _statuses(h) == ("wrapping", "wrapping")
    h.service.task_events.memos.forget(TASK)
    h.tr("task.completed", TASK, task.attributes, status="completed")
    assert _statuses(h) == ("completed", "completed")


def test_a_reservation_completed_after_its_task_is_written_at_once(h: Harness) -> None:
    # Delivered late (after task.completed): no completion of the task comes to carry it.
    h.twilio.add_call(CUSTOMER)
    task = h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    for event_type, status in (*CALL[:5], CALL[6], CALL[5]):
        if event_type in TASKROUTER_EVENTS_USED:
            reservation = RES if event_type.startswith("reservation.") else None
            worker = AGENT if reservation else None
            h.tr(event_type, TASK, task.attributes, status=status, reservation=reservation,
                 worker=worker)  # fmt: skip
    assert _statuses(h) == ("completed", "completed")


def test_an_offer_delivered_anyway_moves_the_task_row(h: Harness) -> None:
    # What the filter saves: delivered (a workspace without setup's filter, where the edge
    # answers it 204 and hands it to nothing), the offer wrote the task's status `reserved`.
    writes = _writes_by_event(h, tuple(event for event, _ in CALL))
    assert writes["reservation.created"] == 1


def test_a_settled_calls_conference_callbacks_write_what_someone_reads(h: Harness) -> None:
    # The call answered, recorded and linked, Flex's conference in its attributes: then each
    # conference callback costs what it keeps. A leg's first join (its row: the coverage
    # report's roles), a hold and an unhold (their times: the console's timeline) are one write
    # each; a leave of a known leg, none (its `joined` is read by leg searches only).
    agent_leg = fake_sid("CA", 8)
    h.twilio.add_call(CUSTOMER)
    task = h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    h.tr("task.created", TASK, task.attributes, status="pending")
    h.tr("reservation.accepted", TASK, task.attributes, status="assigned", reservation=RES,
         worker=AGENT)  # fmt: skip
    h.tr("task.updated", TASK, with_conference(task.attributes, agent_leg, CUSTOMER),
         status="assigned")  # fmt: skip
    writes: list[tuple[str, str, float]] = []
    for event, leg, label, at in (
        ("participant-join", CUSTOMER, "customer", "12:00:05"),
        ("participant-join", agent_leg, "worker", "12:00:06"),
        ("participant-hold", CUSTOMER, "customer", "12:01:00"),
        ("participant-unhold", CUSTOMER, "customer", "12:01:30"),
        ("participant-leave", CUSTOMER, "customer", "12:05:00"),
        ("participant-leave", agent_leg, "worker", "12:05:01"),
    ):
        before = _write_transactions()
        h.conference(event, leg, label, TASK, at=f"Tue, 24 Nov 2026 {at} +0000")
        writes.append((event, label, _write_transactions() - before))
    assert writes == [
        ("participant-join", "customer", 1),
        ("participant-join", "worker", 1),
        ("participant-hold", "customer", 1),
        ("participant-unhold", "customer", 1),
        ("participant-leave", "customer", 0),
        ("participant-leave", "worker", 0),
    ]
