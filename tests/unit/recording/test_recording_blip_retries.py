"""A Twilio blip costs a quick retry, not a backoff period of the call unrecorded; an outage
still backs off (a few requests per period, never a storm)."""

from __future__ import annotations

from recording_harness import Harness, inbound_attrs
from sim_twilio import fake_sid, rate_limited, unavailable
from testkit import assert_recorded_exactly_once

from flexrec.recording.context import JOB_START
from flexrec.recording.policy import RecordingPolicy
from flexrec.recording.states import LIVE_TASK_STATUSES

TASK = fake_sid("WT", 1)
CUSTOMER = fake_sid("CA", 1)
RES = fake_sid("WR", 1)
AGENT = fake_sid("WK", 1)
DEFAULT_TRIES = 4  # RecordingService's inline_attempts


def test_reconcile_lists_again_after_a_blip_and_records_a_call_missed_while_down(
    h: Harness,
) -> None:
    # The call began while the service was down: reconcile's list of live tasks is the only
    # way to find it. Two blips used to leave it unrecorded until the next run (a minute).
    h.service = h.make_service(RecordingPolicy(), inline_attempts=DEFAULT_TRIES)
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER), assignment_status="assigned")
    h.twilio.fail_next("list_tasks", unavailable(), rate_limited())
    assert h.service.reconciler.reconcile() == 1
    h.queue.run_all()
    assert_recorded_exactly_once(h.twilio, CUSTOMER)
    assert h.slept == [0.05]  # the first retry at once, the second after a few tens of ms


def test_a_status_list_that_keeps_failing_is_left_to_the_next_run(h: Harness) -> None:
    h.service = h.make_service(RecordingPolicy(), inline_attempts=DEFAULT_TRIES)
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER), assignment_status="assigned")
    # Twilio is down for the first status listed: a few tries, then the other statuses.
    h.twilio.fail_next("list_tasks", *(unavailable() for _ in range(DEFAULT_TRIES)))
    assert h.service.reconciler.reconcile() == 1
    assert h.twilio.count("list_tasks") == DEFAULT_TRIES + len(LIVE_TASK_STATUSES) - 1
    h.queue.run_all()
    assert_recorded_exactly_once(h.twilio, CUSTOMER)


def test_a_create_failing_every_try_backs_off_instead_of_storming(h: Harness) -> None:
    h.service = h.make_service(RecordingPolicy(), inline_attempts=DEFAULT_TRIES)
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    h.twilio.fail_next("create_recording", *(rate_limited() for _ in range(DEFAULT_TRIES)))
    accept_inbound(h)
    assert h.twilio.count("create_recording") == DEFAULT_TRIES
    retries = [job for job in h.queue.pending if job.name == JOB_START]
    assert len(retries) == 1 and retries[0].delay_s > 0  # the attempt's backoff, then again
    assert h.twilio.recordings_on(CUSTOMER) == []
    h.clock.advance(retries[0].delay_s)
    h.queue.run_all()
    assert_recorded_exactly_once(h.twilio, CUSTOMER)


def accept_inbound(h: Harness) -> None:
    attrs = inbound_attrs(CUSTOMER)
    h.tr("task.created", TASK, attrs, status="pending")
    h.tr("reservation.created", TASK, attrs, status="reserved", reservation=RES, worker=AGENT)
    h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
