"""Pause/resume: who may, idempotency, audit, 21220, and the wrap-up auto-resume."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from recording_harness import Harness, inbound_attrs, outbound_attrs, with_conference
from sim_twilio import fake_sid, not_recordable, unavailable
from testkit import assert_recorded_exactly_once

from flexrec.recording.errors import Forbidden, InvalidState, NotFound, Unavailable
from flexrec.recording.policy import RecordingPolicy
from flexrec.recording.service import Actor

TASK = fake_sid("WT", 1)
OTHER_TASK = fake_sid("WT", 9)
CUSTOMER = fake_sid("CA", 1)
WORKER_CALL = fake_sid("CA", 2)
RES = fake_sid("WR", 1)
RES2 = fake_sid("WR", 2)
AGENT = fake_sid("WK", 1)
AGENT2 = fake_sid("WK", 2)

OWNER = Actor("alice", AGENT, ("agent",))
STRANGER = Actor("bob", AGENT2, ("agent",))
SUPERVISOR = Actor("sue", None, ("supervisor",))


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path, RecordingPolicy(pause_behavior="skip"))
    harness.twilio.add_call(CUSTOMER)
    harness.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    attrs = inbound_attrs(CUSTOMER)
    harness.tr("task.created", TASK, attrs, status="pending")
    harness.tr(
        "reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT
    )
    yield harness
    harness.close()


@pytest.fixture
def ringing(tmp_path: Path) -> Iterator[Harness]:
    """An outbound call still ringing when its agent joined: the customer leg's recording is
    not started yet (a start queued for when the call is answered)."""
    harness = Harness(tmp_path / "ringing")
    attrs = outbound_attrs()
    harness.twilio.add_task(TASK, attrs)
    harness.twilio.add_call(CUSTOMER, "ringing")
    harness.tr(
        "reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT
    )
    harness.tr(
        "task.updated", TASK, with_conference(attrs, WORKER_CALL, CUSTOMER), status="assigned"
    )
    yield harness
    harness.close()


def recording(h: Harness) -> object:
    return h.twilio.recordings_on(CUSTOMER)[0]


def test_owner_pauses_and_resumes_the_actual_recording(h: Harness) -> None:
    state = h.service.pauses.pause(TASK, OWNER)
    rec = h.twilio.recordings_on(CUSTOMER)[0]
    assert state.paused and state.recording_sid == rec.sid
    assert rec.status == "paused"
    assert rec.history == [("paused", "skip")]  # the policy's PauseBehavior, on the real SID
    state = h.service.pauses.resume(TASK, OWNER)
    assert state.state == "recording" and rec.status == "in-progress"
    events = [(e.actor, e.action, e.result) for e in h.pause_events()]
    assert events == [("alice", "pause", "paused"), ("alice", "resume", "recording")]


def test_pausing_twice_is_idempotent(h: Harness) -> None:
    h.service.pauses.pause(TASK, OWNER)
    state = h.service.pauses.pause(TASK, OWNER)
    assert state.paused
    assert h.twilio.count("update_recording") == 1
    assert [e.result for e in h.pause_events()] == ["paused", "noop:paused"]


def test_a_worker_without_the_task_is_forbidden(h: Harness) -> None:
    with pytest.raises(Forbidden):
        h.service.pauses.pause(TASK, STRANGER)
    with pytest.raises(Forbidden):
        h.service.pauses.state(TASK, STRANGER)
    assert h.twilio.count("update_recording") == 0


def test_a_supervisor_may_pause_any_task(h: Harness) -> None:
    assert h.service.pauses.pause(TASK, SUPERVISOR).paused
    assert h.pause_events()[0].actor == "sue"


def test_unknown_task_is_not_found(h: Harness) -> None:
    with pytest.raises(NotFound):
        h.service.pauses.pause(OTHER_TASK, SUPERVISOR)


def test_task_without_recording_is_not_found(h: Harness) -> None:
    h.tr("task.created", OTHER_TASK, {"direction": "inbound", "client_call": True})
    with pytest.raises(NotFound):
        h.service.pauses.pause(OTHER_TASK, SUPERVISOR)


def test_wrapped_up_worker_can_no_longer_pause(h: Harness) -> None:
    attrs = inbound_attrs(CUSTOMER)
    h.tr("reservation.wrapup", TASK, attrs, status="wrapping", reservation=RES, worker=AGENT)
    # Not "only the task's assigned worker may": this is that worker; the call is over (409).
    with pytest.raises(InvalidState, match="call is over"):
        h.service.pauses.pause(TASK, OWNER)
    with pytest.raises(Forbidden):
        h.service.pauses.pause(TASK, STRANGER)
    assert h.service.pauses.state(TASK, OWNER).state == "recording"  # may still look


def test_call_ended_during_pause_reports_ended_not_an_error(h: Harness) -> None:
    h.twilio.fail_next("update_recording", not_recordable())
    h.twilio.add_call(CUSTOMER, "completed")  # 21220: Twilio says the call is over
    state = h.service.pauses.pause(TASK, OWNER)
    assert state.state == "ended"
    assert h.pause_events()[-1].result == "ended"


def _assert_replaced_only_on_resume(h: Harness, ended_sid: str) -> None:
    """The paused leg whose recording Twilio ended gets a new one at the resume, not before."""
    assert len(h.twilio.recordings_on(CUSTOMER)) == 1, "the replacement waits for the resume"
    h.service.pauses.resume(TASK, OWNER)
    h.queue.run_all()
    replacement = h.twilio.recordings_on(CUSTOMER)[-1]
    assert replacement.sid != ended_sid and replacement.status == "in-progress"


def test_a_pause_that_finds_the_recording_ended_on_a_live_call_holds_its_replacement(
    h: Harness,
) -> None:
    # Twilio ended the recording (silent: absent, 16102) a moment before the agent paused for
    # a card number; its callback was still on the way, so the pause got 21220. The call was
    # live: taken for 'call over', the leg was never recorded again (soak: 58-128 s of call).
    rec = h.twilio.recordings_on(CUSTOMER)[0]
    rec.status = "absent"
    assert h.service.pauses.pause(TASK, OWNER).state != "ended"
    h.end_recording(rec.sid, "absent", ErrorCode="16102")
    h.queue.run_all()
    _assert_replaced_only_on_resume(h, rec.sid)


def test_twilio_unavailable_is_retried_then_reported(h: Harness) -> None:
    h.twilio.fail_next("update_recording", unavailable())
    assert h.service.pauses.pause(TASK, OWNER).paused  # one inline retry succeeded
    h.twilio.fail_next("update_recording", unavailable(), unavailable(), unavailable())
    with pytest.raises(Unavailable):
        h.service.pauses.resume(TASK, OWNER)
    assert h.pause_events()[-1].result == "error"
    assert h.service.pauses.state(TASK, OWNER).paused


def test_pause_before_the_recording_started_applies_once_it_starts(ringing: Harness) -> None:
    assert ringing.target(CUSTOMER).state == "pending"  # ringing: retry queued
    state = ringing.service.pauses.pause(TASK, OWNER)
    assert (state.state, state.pause_pending, state.paused) == ("pending", True, False)
    assert ringing.pause_events()[-1].result == "deferred"
    ringing.twilio.add_call(CUSTOMER, "in-progress")
    ringing.clock.advance(600)
    ringing.queue.run_all()
    rec = ringing.twilio.recordings_on(CUSTOMER)[0]
    assert rec.status == "paused" and rec.history == [("paused", "silence")]
    assert ringing.service.pauses.state(TASK, OWNER).paused
    assert (ringing.pause_events()[-1].actor, ringing.pause_events()[-1].result) == (
        "alice",
        "paused",
    )


def test_a_deferred_pause_that_finds_the_recording_ended_on_a_live_call_holds_its_replacement(
    ringing: Harness,
) -> None:
    # Seed 11 at x10: the agent paused while the start was in flight; by the time the kept
    # pause was applied Twilio had ended the recording (absent), so the pause got 21220. The
    # call was live: taken for 'call over', the target ended, the absent callback changed
    # nothing and the agent's resume was a no-op: 22 s of call (222 s simulated) unrecorded.
    assert ringing.service.pauses.pause(TASK, OWNER).pause_pending
    ringing.twilio.add_call(CUSTOMER, "in-progress")
    ringing.twilio.fail_next("update_recording", not_recordable())  # it ended before the pause
    ringing.clock.advance(600)
    ringing.queue.run_all()
    (rec,) = ringing.twilio.recordings_on(CUSTOMER)
    assert ringing.target(CUSTOMER).state == "paused"  # the agent's word, not 'call over'
    ringing.end_recording(rec.sid, "absent", ErrorCode="16102")
    ringing.queue.run_all()
    _assert_replaced_only_on_resume(ringing, rec.sid)


def test_a_deferred_pause_on_a_call_that_ended_meanwhile_ends_the_target(ringing: Harness) -> None:
    assert ringing.service.pauses.pause(TASK, OWNER).pause_pending
    ringing.twilio.add_call(CUSTOMER, "in-progress")
    ringing.twilio.fail_next("update_recording", unavailable())  # the kept pause: retried later
    ringing.clock.advance(600)
    while ringing.target(CUSTOMER).state != "recording":  # the start, not the pause's retry
        ringing.queue.run_all(max_jobs=1)
    assert "recording.apply_pause" in [j.name for j in ringing.queue.pending]
    ringing.twilio.add_call(CUSTOMER, "completed")  # hung up before the kept pause's retry
    ringing.clock.advance(600)
    ringing.queue.run_all()
    assert ringing.target(CUSTOMER).state == "ended"
    assert (ringing.pause_events()[-1].action, ringing.pause_events()[-1].result) == (
        "pause",
        "ended",
    )


def test_resume_before_the_recording_started_cancels_the_deferred_pause(tmp_path: Path) -> None:
    h2 = Harness(tmp_path / "third")
    try:
        h2.twilio.add_call(CUSTOMER)
        h2.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
        h2.twilio.fail_next("create_recording", unavailable())
        attrs = inbound_attrs(CUSTOMER)
        h2.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
        assert h2.service.pauses.pause(TASK, OWNER).pause_pending
        assert not h2.service.pauses.resume(TASK, OWNER).pause_pending
        h2.clock.advance(600)
        h2.queue.run_all()
        assert h2.twilio.recordings_on(CUSTOMER)[0].status == "in-progress"
    finally:
        h2.close()


def test_a_wrapup_resume_that_finds_the_recording_ended_on_a_live_call_replaces_it(
    h: Harness,
) -> None:
    # A transfer: the first agent paused, Twilio ended the recording (absent) during the
    # pause, and that agent wrapped up while the customer stayed on the line, before the
    # absent callback came. The wrap-up's resume got 21220; taken for 'call over', the leg
    # went unrecorded for the rest of the call. The work is over: the replacement starts at
    # once when the callback comes.
    h.service.pauses.pause(TASK, OWNER)
    rec = h.twilio.recordings_on(CUSTOMER)[0]
    rec.status = "absent"  # Twilio answers 21220 to the resume
    attrs = inbound_attrs(CUSTOMER)
    h.tr("reservation.wrapup", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
    assert h.target(CUSTOMER).state == "recording"  # the resume stands, not 'call over'
    h.end_recording(rec.sid, "absent", ErrorCode="16102")
    h.queue.run_all()
    replacement = h.twilio.recordings_on(CUSTOMER)[-1]
    assert replacement.sid != rec.sid and replacement.status == "in-progress"


@pytest.mark.parametrize("event", ["reservation.wrapup", "task.wrapup", "task.completed"])
def test_wrapup_resumes_a_paused_recording_as_system(h: Harness, event: str) -> None:
    h.service.pauses.pause(TASK, OWNER)
    attrs = inbound_attrs(CUSTOMER)
    h.tr(event, TASK, attrs, status="wrapping", reservation=RES if "reservation" in event else None,
         worker=AGENT)  # fmt: skip
    assert h.twilio.recordings_on(CUSTOMER)[0].status == "in-progress"
    assert h.service.pauses.state(TASK, SUPERVISOR).state == "recording"
    assert (h.pause_events()[-1].actor, h.pause_events()[-1].result) == ("system", "recording")


def test_first_agents_wrapup_does_not_undo_the_next_agents_pause(h: Harness) -> None:
    attrs = with_conference(inbound_attrs(CUSTOMER), WORKER_CALL)
    h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES2, worker=AGENT2)
    second = Actor("bob", AGENT2, ("agent",))
    h.service.pauses.pause(TASK, second)
    h.tr("reservation.wrapup", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
    assert h.twilio.recordings_on(CUSTOMER)[0].status == "paused"
    h.tr("reservation.wrapup", TASK, attrs, status="wrapping", reservation=RES2, worker=AGENT2)
    assert h.twilio.recordings_on(CUSTOMER)[0].status == "in-progress"


def test_auto_resume_failure_is_queued_and_retried(h: Harness) -> None:
    h.service.pauses.pause(TASK, OWNER)
    h.twilio.fail_next("update_recording", unavailable())
    h.tr("task.completed", TASK, inbound_attrs(CUSTOMER), status="completed")
    assert h.twilio.recordings_on(CUSTOMER)[0].status == "paused"
    assert [j.name for j in h.queue.pending] == ["recording.auto_resume"]
    h.queue.run_all()
    assert h.twilio.recordings_on(CUSTOMER)[0].status == "in-progress"


def test_lost_webhooks_are_caught_up_when_the_agent_asks(tmp_path: Path) -> None:
    h = Harness(tmp_path / "lost")
    try:
        h.twilio.add_call(CUSTOMER)
        h.twilio.add_task(TASK, inbound_attrs(CUSTOMER), assignment_status="assigned")
        h.twilio.add_reservation(TASK, RES, AGENT, "accepted")
        # No webhook ever arrived: the owner's pause catches up, records, and pauses.
        state = h.service.pauses.pause(TASK, OWNER)
        assert state.paused
        assert_recorded_exactly_once(h.twilio, CUSTOMER)
        with pytest.raises(Forbidden):
            h.service.pauses.pause(TASK, STRANGER)
    finally:
        h.close()
