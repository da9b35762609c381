"""Worker-leg policy: one recording per reservation, linked at reservation level."""

from __future__ import annotations

from pathlib import Path

from recording_harness import Harness, inbound_attrs, with_conference
from sim_twilio import fake_sid
from testkit import assert_not_recorded, assert_recorded_exactly_once

from flexrec.recording.policy import RecordingPolicy

TASK = fake_sid("WT", 1)
CUSTOMER = fake_sid("CA", 1)
WORKER1 = fake_sid("CA", 2)
WORKER2 = fake_sid("CA", 3)
RES1 = fake_sid("WR", 1)
RES2 = fake_sid("WR", 2)
AGENT1 = fake_sid("WK", 1)
AGENT2 = fake_sid("WK", 2)


def test_each_reservation_records_its_own_worker_leg(tmp_path: Path) -> None:
    h = Harness(tmp_path, RecordingPolicy(leg="worker"))
    try:
        for call in (CUSTOMER, WORKER1, WORKER2):
            h.twilio.add_call(call)
        base = inbound_attrs(CUSTOMER)
        h.twilio.add_task(TASK, base)
        h.tr("reservation.accepted", TASK, base, status="assigned", reservation=RES1, worker=AGENT1)
        h.tr("task.updated", TASK, with_conference(base, WORKER1), status="assigned")
        h.tr("task.updated", TASK, with_conference(base, WORKER1), status="assigned")  # duplicate
        assert_recorded_exactly_once(h.twilio, WORKER1)
        assert_not_recorded(h.twilio, CUSTOMER)
        # transfer: a second reservation whose agent leg joins the conference
        h.tr("reservation.accepted", TASK, base, status="assigned", reservation=RES2, worker=AGENT2)
        h.conference("participant-join", WORKER2, "worker", TASK)
        assert_recorded_exactly_once(h.twilio, WORKER2)
        assert_recorded_exactly_once(h.twilio, WORKER1)
        attrs = h.twilio.tasks[TASK].attributes
        for res, call in ((RES1, WORKER1), (RES2, WORKER2)):
            media = attrs["reservation_attributes"][res]["media"]
            assert len(media) == 1
            assert media[0]["channels"] == ["others", "customer"]
            assert media[0]["url"].endswith(h.twilio.recordings_on(call)[0].sid)
        assert "conversations" not in attrs
        assert attrs["call_sid"] == CUSTOMER  # never overwritten with a worker leg
    finally:
        h.close()


def test_a_transfer_agent_leg_nothing_names_is_found_in_the_conference(tmp_path: Path) -> None:
    # Labels absent and no conference callback: the second agent's leg is found by the search
    # (the `client:` participant of the task's conference), never the customer's.
    from recording_harness import CONFERENCE_SID

    h = Harness(tmp_path, RecordingPolicy(leg="worker"))
    try:
        h.twilio.add_party(CUSTOMER, "+15551230001", "+15559870000")
        h.twilio.add_party(WORKER1, "+15559870000", "client:alice")
        h.twilio.add_party(WORKER2, "+15559870000", "client:bob")
        h.twilio.add_conference(CONFERENCE_SID, TASK)
        for call in (CUSTOMER, WORKER1):
            h.twilio.join(CONFERENCE_SID, call)
        base = inbound_attrs(CUSTOMER)
        h.twilio.add_task(TASK, with_conference(base, WORKER1), assignment_status="assigned")
        h.tr("reservation.accepted", TASK, base, status="assigned", reservation=RES1, worker=AGENT1)
        h.tr("task.updated", TASK, with_conference(base, WORKER1), status="assigned")
        assert len(h.twilio.recordings_on(WORKER1)) == 1
        h.tr("reservation.accepted", TASK, base, status="assigned", reservation=RES2, worker=AGENT2)
        h.queue.run_all(max_jobs=3)  # bob's leg is still ringing: nothing yet
        assert h.twilio.recordings_on(WORKER2) == []
        h.twilio.join(CONFERENCE_SID, WORKER2)
        h.queue.run_all(max_jobs=20)
        assert len(h.twilio.recordings_on(WORKER2)) == 1
        assert len(h.twilio.recordings_on(WORKER1)) == 1
        assert h.twilio.recordings_on(CUSTOMER) == []
        media = h.twilio.tasks[TASK].attributes["reservation_attributes"][RES2]["media"]
        assert media[0]["url"].endswith(h.twilio.recordings_on(WORKER2)[0].sid)
        assert h.queue.pending == []
    finally:
        h.close()
