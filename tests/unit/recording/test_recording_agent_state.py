"""What the agent API's state tells a plugin: who paused and when, whether the asker may act,
and why a task has no recording (waiting for the call, or excluded by policy)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from recording_harness import Harness, inbound_attrs, outbound_attrs, with_conference
from sim_twilio import fake_sid

from flexrec.recording.errors import Forbidden, NotFound
from flexrec.recording.policy import RecordingPolicy, Selector
from flexrec.recording.service import Actor

TASK = fake_sid("WT", 1)
CUSTOMER = fake_sid("CA", 1)
WORKER_CALL = fake_sid("CA", 2)
RES = fake_sid("WR", 1)
AGENT = fake_sid("WK", 1)
AGENT2 = fake_sid("WK", 2)

OWNER = Actor("alice", AGENT, ("agent",))
STRANGER = Actor("bob", AGENT2, ("agent",))
SUPERVISOR = Actor("sue", None, ("supervisor",))


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    harness.twilio.add_call(CUSTOMER)
    harness.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    attrs = inbound_attrs(CUSTOMER)
    harness.tr("task.created", TASK, attrs, status="pending")
    harness.tr(
        "reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT
    )
    yield harness
    harness.close()


def test_the_pause_in_force_names_who_and_since_when(h: Harness) -> None:
    h.clock.advance(30)
    paused_at = h.clock()
    answer = h.service.pauses.pause(TASK, OWNER)
    assert (answer.paused_by, answer.paused_at, answer.may_act) == ("alice", paused_at, True)
    h.clock.advance(5)
    seen = h.service.pauses.state(TASK, SUPERVISOR)
    assert (seen.state, seen.paused_by, seen.paused_at) == ("paused", "alice", paused_at)
    # A supervisor's repeat of the pause is a no-op: alice's pause stays the one shown.
    assert h.service.pauses.pause(TASK, SUPERVISOR).paused_by == "alice"
    resumed = h.service.pauses.resume(TASK, OWNER)
    assert (resumed.state, resumed.paused_by, resumed.paused_at) == ("recording", None, None)


def test_may_act_follows_the_reservation(h: Harness) -> None:
    assert h.service.pauses.state(TASK, OWNER).may_act
    assert h.service.pauses.state(TASK, SUPERVISOR).may_act
    attrs = inbound_attrs(CUSTOMER)
    h.tr("reservation.wrapup", TASK, attrs, status="wrapping", reservation=RES, worker=AGENT)
    looked = h.service.pauses.state(TASK, OWNER)
    assert looked.state == "recording" and not looked.may_act
    with pytest.raises(Forbidden):
        h.service.pauses.state(TASK, STRANGER)


def test_a_pending_pause_names_who_asked(tmp_path: Path) -> None:
    h = Harness(tmp_path / "pending")
    try:
        attrs = outbound_attrs()
        h.twilio.add_task(TASK, attrs)
        h.twilio.add_call(CUSTOMER, "ringing")
        h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
        h.tr("task.updated", TASK, with_conference(attrs, WORKER_CALL, CUSTOMER), status="assigned")
        h.service.pauses.pause(TASK, OWNER)
        seen = h.service.pauses.state(TASK, OWNER)
        assert (seen.state, seen.pause_pending, seen.paused_by) == ("pending", True, "alice")
    finally:
        h.close()


def test_an_outbound_call_not_yet_placed_is_waiting_not_an_error(tmp_path: Path) -> None:
    h = Harness(tmp_path / "waiting")
    try:
        attrs = outbound_attrs()
        h.twilio.add_task(TASK, attrs)
        h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
        seen = h.service.pauses.state(TASK, OWNER)
        assert (seen.state, seen.may_act, seen.recording_sid) == ("waiting", True, None)
        with pytest.raises(Forbidden):
            h.service.pauses.state(TASK, STRANGER, catch_up=False)
    finally:
        h.close()


def test_a_pause_before_the_customer_leg_is_known_is_kept_and_the_recording_starts_paused(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path / "early-pause")
    try:
        attrs = outbound_attrs()
        h.twilio.add_task(TASK, attrs)
        h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
        # The agent takes a card payment while the customer's phone still rings: the pause is
        # kept (it used to be refused, and the recording then started unpaused).
        kept = h.service.pauses.pause(TASK, OWNER)
        assert (kept.state, kept.pause_pending, kept.paused_by) == ("waiting", True, "alice")
        seen = h.service.pauses.state(TASK, OWNER)
        assert (seen.state, seen.pause_pending, seen.paused_by) == ("waiting", True, "alice")
        # The customer answers: the recording starts and is paused at once.
        h.twilio.add_call(CUSTOMER)
        h.tr("task.updated", TASK, with_conference(attrs, WORKER_CALL, CUSTOMER), status="assigned")
        h.queue.run_all()
        target = h.target(CUSTOMER)
        assert target.state == "paused"
        recording = h.twilio.recordings_on(CUSTOMER)[0]
        assert recording.status == "paused"
        assert [status for status, _ in recording.history] == ["paused"]
        # And the agent's resume resumes it.
        assert h.service.pauses.resume(TASK, OWNER).state == "recording"
    finally:
        h.close()


def test_a_kept_pause_withdrawn_before_the_leg_is_known_starts_the_recording_unpaused(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path / "early-resume")
    try:
        attrs = outbound_attrs()
        h.twilio.add_task(TASK, attrs)
        h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
        h.service.pauses.pause(TASK, OWNER)
        withdrawn = h.service.pauses.resume(TASK, OWNER)
        assert (withdrawn.state, withdrawn.pause_pending) == ("waiting", False)
        h.twilio.add_call(CUSTOMER)
        h.tr("task.updated", TASK, with_conference(attrs, WORKER_CALL, CUSTOMER), status="assigned")
        h.queue.run_all()
        assert h.target(CUSTOMER).state == "recording"
        assert h.twilio.recordings_on(CUSTOMER)[0].history == []
    finally:
        h.close()


def test_a_stranger_cannot_keep_a_pause_on_a_task_without_a_leg(tmp_path: Path) -> None:
    h = Harness(tmp_path / "early-stranger")
    try:
        attrs = outbound_attrs()
        h.twilio.add_task(TASK, attrs)
        h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
        with pytest.raises(Forbidden):
            h.service.pauses.pause(TASK, STRANGER)
        assert h.service.pauses.state(TASK, OWNER).pause_pending is False
    finally:
        h.close()


def test_an_internal_call_is_not_recorded_with_the_reason(tmp_path: Path) -> None:
    h = Harness(tmp_path / "internal")
    try:
        h.twilio.add_call(CUSTOMER)
        attrs = {"client_call": True, "direction": "outbound", "call_sid": CUSTOMER}
        h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
        seen = h.service.pauses.state(TASK, OWNER)
        assert seen.state == "not_recorded"
        assert seen.detail is not None and "internal" in seen.detail
    finally:
        h.close()


def test_a_task_excluded_by_policy_says_so(tmp_path: Path) -> None:
    h = Harness(tmp_path / "excluded", RecordingPolicy(exclude=Selector(queues=("Sales",))))
    try:
        h.twilio.add_call(CUSTOMER)
        attrs = inbound_attrs(CUSTOMER)
        h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
        seen = h.service.pauses.state(TASK, OWNER)
        assert (seen.state, seen.detail) == ("not_recorded", "queue excluded")
    finally:
        h.close()


def test_a_repeated_read_never_asks_taskrouter(tmp_path: Path) -> None:
    h = Harness(tmp_path / "quiet")
    try:
        h.twilio.add_call(CUSTOMER)
        h.twilio.add_task(TASK, inbound_attrs(CUSTOMER), assignment_status="assigned")
        h.twilio.add_reservation(TASK, RES, AGENT, "accepted")
        # No webhook arrived: only a read that may catch up learns of the task.
        with pytest.raises(NotFound):
            h.service.pauses.state(TASK, OWNER, catch_up=False)
        assert h.service.pauses.state(TASK, OWNER).state in ("recording", "starting", "pending")
    finally:
        h.close()


def test_after_a_transfer_the_new_agent_controls_the_same_recording(h: Harness) -> None:
    first = h.service.pauses.state(TASK, OWNER)
    attrs = with_conference(inbound_attrs(CUSTOMER), WORKER_CALL)
    h.tr("reservation.wrapup", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
    res2 = fake_sid("WR", 2)
    h.tr("reservation.created", TASK, attrs, status="reserved", reservation=res2, worker=AGENT2)
    h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=res2, worker=AGENT2)
    taker = h.service.pauses.state(TASK, STRANGER)
    assert (taker.recording_sid, taker.may_act) == (first.recording_sid, True)
    assert h.service.pauses.pause(TASK, STRANGER).paused_by == "bob"
    looked = h.service.pauses.state(TASK, OWNER)  # the first agent may still look, not act
    assert (looked.state, looked.paused_by, looked.may_act) == ("paused", "bob", False)


def test_a_new_task_for_the_same_call_shows_the_same_recording(h: Harness) -> None:
    task2 = fake_sid("WT", 2)
    res2 = fake_sid("WR", 2)
    attrs = inbound_attrs(CUSTOMER)
    h.twilio.add_task(task2, attrs)
    h.tr("task.created", task2, attrs, status="pending")
    h.tr("reservation.accepted", task2, attrs, status="assigned", reservation=res2, worker=AGENT2)
    assert (
        h.service.pauses.state(task2, STRANGER).recording_sid
        == h.service.pauses.state(TASK, OWNER).recording_sid
    )
    h.service.pauses.pause(task2, STRANGER)
    assert h.service.pauses.state(TASK, OWNER).paused_by == "bob"


def test_the_fingerprint_moves_with_every_change_the_state_shows(h: Harness) -> None:
    def fingerprint(actor: Actor = OWNER) -> object:
        return h.service.pauses.state_fingerprint(TASK, actor)

    before = fingerprint()
    assert fingerprint() == before  # nothing happened: no full re-read needed
    h.clock.advance(1)
    h.service.pauses.pause(TASK, OWNER)
    paused = fingerprint()
    assert paused != before
    h.service.pauses.pause(TASK, OWNER)  # a no-op pause changes nothing shown
    assert fingerprint() == paused
    attrs = inbound_attrs(CUSTOMER)
    h.tr("reservation.wrapup", TASK, attrs, status="wrapping", reservation=RES, worker=AGENT)
    assert fingerprint() != paused  # may_act went, and the wrap-up resumed the recording
