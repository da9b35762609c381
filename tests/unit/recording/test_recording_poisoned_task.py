"""One task that cannot be stored never stops recovery of the others."""

from __future__ import annotations

from recording_harness import Harness, inbound_attrs
from sim_twilio import fake_sid
from testkit import assert_recorded_exactly_once

POISONED = fake_sid("WT", 1)
LOST = fake_sid("WT", 2)
CUSTOMER = fake_sid("CA", 1)
OTHER = fake_sid("CA", 2)


def test_reconcile_skips_a_poisoned_task_and_records_the_others(h: Harness) -> None:
    h.twilio.add_call(OTHER)
    h.twilio.add_call(CUSTOMER)
    # Listed first: a task whose attributes cannot be stored (the gateway already skips what it
    # cannot read; this is whatever else a task may hold that breaks on the way in).
    h.twilio.add_task(POISONED, {**inbound_attrs(OTHER), "unstorable": {1, 2}})
    h.twilio.add_task(LOST, inbound_attrs(CUSTOMER))  # its webhooks were lost
    for task in (POISONED, LOST):
        h.twilio.tasks[task].assignment_status = "assigned"

    h.service.reconciler.reconcile()
    h.queue.run_all()

    assert_recorded_exactly_once(h.twilio, CUSTOMER)
    assert h.target(CUSTOMER).state == "recording"
