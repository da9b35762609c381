"""After a restart, the safety net reaches the calls that began while the service was down
before it re-checks the ones it recorded already: every request ahead of a new call's start is
call time it goes unrecorded (a restart has a fetch to make for every linked live task)."""

from __future__ import annotations

from typing import Any

from recording_harness import Harness, inbound_attrs
from sim_twilio import fake_sid

from flexrec.recording.context import JOB_START
from flexrec.recording.policy import RecordingPolicy

AGENT = fake_sid("WK", 1)


def _recorded_call(h: Harness, n: int) -> tuple[str, str]:
    task, customer = fake_sid("WT", n), fake_sid("CA", n)
    h.twilio.add_call(customer)
    h.twilio.add_task(task, inbound_attrs(customer))
    attrs = inbound_attrs(customer)
    h.tr("task.created", task, attrs, status="pending")
    h.tr("reservation.accepted", task, attrs, status="assigned",
         reservation=fake_sid("WR", n), worker=AGENT)  # fmt: skip
    h.queue.run_all()
    assert h.target(customer).recording_sid is not None
    h.twilio.tasks[task].assignment_status = "assigned"
    return task, customer


def test_a_call_begun_while_down_is_started_before_the_recorded_ones_are_rechecked(
    h: Harness,
) -> None:
    recorded = [_recorded_call(h, n)[0] for n in (1, 2)]
    h.service = h.make_service(RecordingPolicy())  # the restart
    new_task, new_customer = fake_sid("WT", 3), fake_sid("CA", 3)
    h.twilio.add_call(new_customer)  # began, queued and was answered while flexrec was down
    h.twilio.add_task(new_task, inbound_attrs(new_customer), assignment_status="assigned")
    enqueue = h.queue.enqueue

    def logged(name: str, *args: Any, delay_s: float = 0.0) -> None:
        h.twilio.requests.append((f"enqueue {name}", args))
        enqueue(name, *args, delay_s=delay_s)

    h.queue.enqueue = logged  # type: ignore[method-assign]
    del h.twilio.requests[:]
    assert h.service.reconciler.reconcile() == 1
    order = [(op, args[0] if args else None) for op, args in h.twilio.requests]
    start = order.index((f"enqueue {JOB_START}", h.target(new_customer).id))
    rechecks = [i for i, (op, sid) in enumerate(order) if op == "fetch_task" and sid in recorded]
    assert rechecks, "a restart re-checks every linked live task's attributes"
    assert start < min(rechecks)
    h.queue.run_all()
    assert h.target(new_customer).recording_sid is not None
