"""A recording started while a webhook is handled is timed from that webhook's arrival."""

from __future__ import annotations

import time

from prometheus_client import REGISTRY
from recording_harness import Harness, inbound_attrs
from sim_twilio import fake_sid

from flexrec.webhooks.arrival import mark_arrival, reset_arrival

TASK, CUSTOMER, RES, AGENT = (
    fake_sid("WT", 1),
    fake_sid("CA", 1),
    fake_sid("WR", 1),
    fake_sid("WK", 1),
)


def _timed() -> tuple[float, float]:
    name = "flexrec_recording_start_seconds"
    return (
        REGISTRY.get_sample_value(name + "_count") or 0.0,
        REGISTRY.get_sample_value(name + "_sum") or 0.0,
    )


def test_the_start_is_timed_from_the_arrival_of_the_webhook_that_started_it(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    attrs = inbound_attrs(CUSTOMER)
    h.tr("task.created", TASK, attrs, status="pending")
    h.tr("reservation.created", TASK, attrs, status="reserved", reservation=RES, worker=AGENT)
    count, total = _timed()
    token = mark_arrival(time.monotonic() - 0.25)  # it arrived a quarter of a second ago
    try:
        h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
    finally:
        reset_arrival(token)
    assert len(h.twilio.recordings_on(CUSTOMER)) == 1
    after_count, after_total = _timed()
    assert after_count == count + 1
    assert 0.25 <= after_total - total < 5


def test_a_start_outside_any_webhook_is_not_timed(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    attrs = inbound_attrs(CUSTOMER)
    count, _ = _timed()
    h.tr("task.created", TASK, attrs, status="pending")
    h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
    assert len(h.twilio.recordings_on(CUSTOMER)) == 1
    assert _timed()[0] == count
