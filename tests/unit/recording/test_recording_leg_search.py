"""Finding the customer leg when nothing names it, and adopting only the leg's own dual
recording (issue 9, points 2, 5, 6), on the fake Twilio."""

from __future__ import annotations

from recording_harness import CONFERENCE_SID, Harness, inbound_attrs, outbound_attrs
from sim_twilio import fake_sid

from flexrec.recording.legs import classify_legs
from flexrec.recording.policy import RecordingPolicy
from flexrec.recording.search import (
    LOOK_NOW,
    SEARCH_ATTEMPTS,
    SEARCH_RETRY_AFTER_ERROR_S,
    search_delay_s,
)
from flexrec.recording.states import LIVE_TASK_STATUSES
from flexrec.twilio.gateway import CallInfo, GatewayError, ParticipantInfo

TASK = fake_sid("WT", 1)
CUSTOMER = fake_sid("CA", 1)
WORKER = fake_sid("CA", 2)
THIRD = fake_sid("CA", 3)
RES = fake_sid("WR", 1)
AGENT = fake_sid("WK", 1)
FLEX_NUMBER = "+15559870000"
CALLED = "+15551230002"  # outbound_attrs' customer number


def _outbound_accepted(h: Harness) -> None:
    attrs = outbound_attrs()
    h.twilio.add_task(TASK, attrs, assignment_status="assigned")
    h.twilio.add_party(WORKER, FLEX_NUMBER, "client:alice")
    h.twilio.add_conference(CONFERENCE_SID, TASK)
    h.twilio.join(CONFERENCE_SID, WORKER)
    h.tr("task.created", TASK, attrs, status="pending")
    h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)


def _searches(h: Harness) -> list[tuple[object, ...]]:
    return [j.args for j in h.queue.history if j.name == "recording.find_legs"]


def test_search_waits_for_the_customer_then_records_their_leg(h: Harness) -> None:
    _outbound_accepted(h)
    assert _searches(h), "an answered task with no customer leg is searched for"
    h.queue.run_all(max_jobs=5)  # still ringing: polled again, nothing recorded
    assert h.twilio.recordings == {}
    assert h.twilio.count("list_participants") >= 2
    assert h.twilio.count("list_conferences") == 1  # found by name once, then listed directly
    h.twilio.add_party(THIRD, FLEX_NUMBER, "+15550009999")  # someone else the agent added
    h.twilio.join(CONFERENCE_SID, THIRD)
    h.twilio.add_party(CUSTOMER, FLEX_NUMBER, CALLED)
    h.twilio.join(CONFERENCE_SID, CUSTOMER)
    h.queue.run_all(max_jobs=20)
    assert [r.call_sid for r in h.twilio.recordings.values()] == [CUSTOMER]
    assert h.task_row(TASK).customer_call_sid == CUSTOMER  # type: ignore[union-attr]
    assert len(h.media(TASK)) == 1
    assert h.queue.pending == []  # found: the search stopped


LOOKUPS = ("list_conferences", "list_participants", "fetch_call")


def _lookups(h: Harness) -> dict[str, int]:
    return {op: h.twilio.count(op) for op in LOOKUPS}


def test_legs_a_status_callback_showed_are_not_fetched(h: Harness) -> None:
    # Each call status callback carries the leg's To and From: the agent's leg (to a client
    # identity), a third party the agent added and the customer are told apart without a fetch.
    _outbound_accepted(h)
    h.call_status(WORKER, "in-progress", From=FLEX_NUMBER, To="client:alice")
    h.queue.run_all(max_jobs=3)  # still ringing: polled
    for leg, number in ((THIRD, "+15550009999"), (CUSTOMER, CALLED)):
        h.twilio.add_party(leg, FLEX_NUMBER, number)
        h.call_status(leg, "in-progress", From=FLEX_NUMBER, To=number)
        h.twilio.join(CONFERENCE_SID, leg)
    h.queue.run_all(max_jobs=20)
    assert [r.call_sid for r in h.twilio.recordings.values()] == [CUSTOMER]
    assert h.task_row(TASK).customer_call_sid == CUSTOMER  # type: ignore[union-attr]
    assert h.twilio.count("fetch_call") == 0


def test_a_leg_fetched_once_is_not_fetched_on_the_next_polls(h: Harness) -> None:
    # An account that sends no call status callbacks: the agent's leg is fetched by the first
    # poll, and its numbers never change, so the polls while the customer rings list only.
    _outbound_accepted(h)
    h.queue.run_all(max_jobs=4)
    assert h.twilio.count("list_participants") == 4
    assert h.twilio.count("list_conferences") == 1
    assert h.twilio.count("fetch_call") == 1
    h.twilio.add_party(CUSTOMER, FLEX_NUMBER, CALLED)
    h.twilio.join(CONFERENCE_SID, CUSTOMER)
    h.queue.run_all(max_jobs=20)
    assert [r.call_sid for r in h.twilio.recordings.values()] == [CUSTOMER]
    assert h.twilio.count("fetch_call") == 2  # the customer's, once


def test_the_customer_fetched_first_spares_the_agents_leg(h: Harness) -> None:
    # Both legs in the conference by the first look (no callbacks, no labels): the newest, the
    # customer's, is fetched first, and once the task's number names it the agent's leg would
    # change nothing, so it is not fetched.
    h.twilio.add_party(CUSTOMER, FLEX_NUMBER, CALLED)
    _outbound_accepted(h)
    h.twilio.join(CONFERENCE_SID, CUSTOMER)
    h.queue.run_all(max_jobs=20)
    assert [r.call_sid for r in h.twilio.recordings.values()] == [CUSTOMER]
    assert h.twilio.count("fetch_call") == 1


def test_a_third_party_newest_is_fetched_and_passed_over(h: Harness) -> None:
    h.twilio.add_party(CUSTOMER, FLEX_NUMBER, CALLED)
    h.twilio.add_party(THIRD, FLEX_NUMBER, "+15550009999")
    _outbound_accepted(h)
    h.twilio.join(CONFERENCE_SID, CUSTOMER)
    h.twilio.join(CONFERENCE_SID, THIRD)
    h.queue.run_all(max_jobs=20)
    assert [r.call_sid for r in h.twilio.recordings.values()] == [CUSTOMER]
    assert h.twilio.count("fetch_call") == 2  # the third party's, then the customer's


def test_a_task_naming_no_number_fetches_every_leg(h: Harness) -> None:
    # Nothing to match a number against: the customer is the one leg that is not an agent's,
    # which takes every leg's numbers.
    attrs = {"direction": "outbound", "type": "outbound"}
    h.twilio.add_task(TASK, attrs, assignment_status="assigned")
    h.twilio.add_party(WORKER, FLEX_NUMBER, "client:alice")
    h.twilio.add_party(CUSTOMER, FLEX_NUMBER, CALLED)
    h.twilio.add_conference(CONFERENCE_SID, TASK)
    h.twilio.join(CONFERENCE_SID, WORKER)
    h.twilio.join(CONFERENCE_SID, CUSTOMER)
    h.tr("task.created", TASK, attrs, status="pending")
    h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
    h.queue.run_all(max_jobs=20)
    assert [r.call_sid for r in h.twilio.recordings.values()] == [CUSTOMER]
    assert h.twilio.count("fetch_call") == 2


def test_labelled_participants_are_not_fetched(h: Harness) -> None:
    # Labels but no conference callback (nothing posts the join): the listed participants'
    # labels say whose leg each is.
    h.twilio.add_party(CUSTOMER, FLEX_NUMBER, CALLED)
    _outbound_accepted(h)
    h.twilio.world.conferences[CONFERENCE_SID].participants[WORKER].label = "worker"
    h.twilio.join(CONFERENCE_SID, CUSTOMER, "customer")
    h.queue.run_all(max_jobs=20)
    assert [r.call_sid for r in h.twilio.recordings.values()] == [CUSTOMER]
    assert h.twilio.count("fetch_call") == 0


def test_join_and_status_callbacks_find_the_customer_without_asking_twilio(h: Harness) -> None:
    # Unlabelled legs with a conference status callback: the joins say which legs are in the
    # task's conference, the legs' status callbacks say their numbers.
    _outbound_accepted(h)
    h.call_status(WORKER, "in-progress", From=FLEX_NUMBER, To="client:alice")
    h.conference("participant-join", WORKER, "", TASK)
    before = _lookups(h)
    h.queue.run_all(max_jobs=2)  # the customer still rings: the known conference is listed
    polled = _lookups(h)
    assert polled["list_conferences"] == before["list_conferences"]
    assert polled["list_participants"] > before["list_participants"]
    h.twilio.add_party(CUSTOMER, FLEX_NUMBER, CALLED)
    h.call_status(CUSTOMER, "in-progress", From=FLEX_NUMBER, To=CALLED)
    h.twilio.join(CONFERENCE_SID, CUSTOMER)
    h.conference("participant-join", CUSTOMER, "", TASK)
    h.queue.run_all(max_jobs=20)
    assert [r.call_sid for r in h.twilio.recordings.values()] == [CUSTOMER]
    assert _lookups(h) == polled


def test_search_stops_when_the_work_on_the_task_is_over(h: Harness) -> None:
    _outbound_accepted(h)
    h.tr("task.wrapup", TASK, outbound_attrs(), status="wrapping")
    h.queue.run_all(max_jobs=50)
    assert h.queue.pending == []
    assert h.twilio.recordings == {}


def test_search_backs_off_and_gives_up() -> None:
    assert search_delay_s(1) == 0.5
    assert search_delay_s(2) > search_delay_s(1)
    assert search_delay_s(SEARCH_ATTEMPTS) == 2.0


def test_a_lookup_twilio_failed_is_asked_again_at_once_not_after_the_poll_delay(h: Harness) -> None:
    # At 20% Twilio errors most multi-call searches fail; a backing-off retry let short outbound
    # calls end before one search got through (the faults demo lost a call a run).
    _outbound_accepted(h)
    h.queue.run_all(max_jobs=4)  # ringing: polled with a growing delay
    waiting = [j.delay_s for j in h.queue.history if j.name == "recording.find_legs"][-1]
    assert waiting > SEARCH_RETRY_AFTER_ERROR_S
    # The conference was found by name on the first poll: the polls list its participants.
    h.twilio.fail_next("list_participants", GatewayError("Twilio 503", status=503))
    h.queue.run_all(max_jobs=1)
    after_error = [j.delay_s for j in h.queue.history if j.name == "recording.find_legs"][-1]
    assert after_error == SEARCH_RETRY_AFTER_ERROR_S
    h.twilio.add_party(CUSTOMER, FLEX_NUMBER, CALLED)
    h.twilio.join(CONFERENCE_SID, CUSTOMER)
    h.queue.run_all(max_jobs=5)
    assert [r.call_sid for r in h.twilio.recordings.values()] == [CUSTOMER]


def test_a_blip_in_one_lookup_is_tried_again_within_the_same_search(h: Harness) -> None:
    # A search is several REST calls: starting it all over after any one failed made most
    # searches fail at a 20% error rate; each call now gets a quick second try instead.
    h.service = h.make_service(RecordingPolicy(), inline_attempts=4)  # the service's default
    h.twilio.add_party(CUSTOMER, FLEX_NUMBER, CALLED)
    _outbound_accepted(h)
    h.twilio.join(CONFERENCE_SID, CUSTOMER)
    for lookup in ("list_conferences", "list_participants", "fetch_call"):
        h.twilio.fail_next(lookup, GatewayError("Twilio 503", status=503))
    h.queue.run_all(max_jobs=1)
    assert [r.call_sid for r in h.twilio.recordings.values()] == [CUSTOMER]
    assert len(_searches(h)) == 1  # found by the first search: none queued again


def test_a_search_a_kill_cut_short_is_taken_up_again_though_twilio_refuses_the_task_list(
    h: Harness,
) -> None:
    # The soak's lost call: an outbound task whose attributes name no leg, the search's lookups
    # failing (429), then kill -9 took its next attempt (searches run in the process). After
    # the restart List Tasks answered 429 too, so reconcile re-planned nothing and the customer,
    # who answered meanwhile, talked unrecorded until hang-up.
    _outbound_accepted(h)
    h.twilio.fail_next("list_conferences", GatewayError("Twilio 429 20429", status=429))
    h.queue.run_all(max_jobs=1)
    assert h.queue.pending, "the search goes on after Twilio's error"
    h.queue.pending.clear()  # kill -9: the next attempt dies with the process
    h.twilio.add_party(CUSTOMER, FLEX_NUMBER, CALLED)
    h.twilio.join(CONFERENCE_SID, CUSTOMER)
    # List Tasks is one list per live status; each is refused.
    refused = [GatewayError("Twilio 429 20429", status=429) for _ in LIVE_TASK_STATUSES]
    h.twilio.fail_next("list_tasks", *refused)
    restarted = h.make_service(RecordingPolicy())  # a new process on the same database
    restarted.reconciler.reconcile()
    assert h.twilio.count("list_tasks") == len(LIVE_TASK_STATUSES)
    h.queue.run_all(max_jobs=20)
    assert [r.call_sid for r in h.twilio.recordings.values()] == [CUSTOMER]
    assert h.task_row(TASK).customer_call_sid == CUSTOMER  # type: ignore[union-attr]


def test_an_unlabelled_join_callback_searches_at_once(h: Harness) -> None:
    _outbound_accepted(h)
    h.queue.run_all(max_jobs=3)  # the search waits for its next poll (up to 2 s)
    h.twilio.add_party(CUSTOMER, FLEX_NUMBER, CALLED)
    h.twilio.join(CONFERENCE_SID, CUSTOMER)
    h.conference("participant-join", CUSTOMER, "", TASK)
    assert _searches(h)[-1] == (TASK, LOOK_NOW)
    # The look runs beside the waiting search (it was dropped as its duplicate: the customer
    # talked unrecorded until the next poll), and finds the customer now.
    look = h.queue.pending.pop()
    assert h.service.planner.search.run(*look.args) == "found"
    assert [r.call_sid for r in h.twilio.recordings.values()] == [CUSTOMER]
    h.queue.run_all(max_jobs=5)
    assert h.queue.pending == []  # the polling search saw it known and stopped
    assert len(h.twilio.recordings) == 1


def test_a_look_that_finds_nothing_leaves_the_polling_to_the_running_search(h: Harness) -> None:
    _outbound_accepted(h)
    h.queue.run_all(max_jobs=1)  # polling: its next attempt is queued
    h.twilio.add_party(THIRD, FLEX_NUMBER, "+15550009999")
    h.twilio.join(CONFERENCE_SID, THIRD)
    h.conference("participant-join", THIRD, "", TASK)
    look = h.queue.pending.pop()
    assert look.args == (TASK, LOOK_NOW)
    before = _lookups(h)
    assert h.service.planner.search.run(*look.args) == "waiting"
    assert [j.args[1] for j in h.queue.pending] == [2]  # only the polling search's next try
    # It looked at what the callbacks reported (the third party's call fetched once), and
    # left the lists to the poll: a look per join must not double the search's requests.
    after = _lookups(h)
    assert after["list_conferences"] == before["list_conferences"]
    assert after["list_participants"] == before["list_participants"]


def test_labels_and_attributes_still_name_the_leg_without_a_search(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    attrs = inbound_attrs(CUSTOMER)
    h.twilio.add_task(TASK, attrs, assignment_status="assigned")
    h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
    assert _searches(h) == []
    assert [r.call_sid for r in h.twilio.recordings.values()] == [CUSTOMER]


def _inbound_with(h: Harness, **recording: object) -> str:
    h.twilio.add_call(CUSTOMER)
    other = h.twilio.start_external_recording(CUSTOMER, **recording)  # type: ignore[arg-type]
    attrs = inbound_attrs(CUSTOMER)
    h.twilio.add_task(TASK, attrs, assignment_status="assigned")
    h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
    return other


def test_a_mono_recording_on_the_leg_is_not_adopted(h: Harness) -> None:
    mono = _inbound_with(h, source="StartCallRecordingAPI", channels=1)
    assert h.twilio.count("create_recording") == 1
    target = h.target(CUSTOMER)
    assert target.recording_sid != mono and target.source == "created"
    # its status callback (Studio's URL may be ours) is not taken for our create's
    h.recording_status(mono, CUSTOMER, "in-progress", RecordingChannels="1")
    assert h.target(CUSTOMER).recording_sid == target.recording_sid


def test_flex_conference_recording_is_not_adopted(h: Harness) -> None:
    native = _inbound_with(h, source="Conference", channels=2, conference_sid=CONFERENCE_SID)
    assert h.twilio.count("create_recording") == 1
    assert h.target(CUSTOMER).recording_sid != native
    assert h.media(TASK)[0]["url"].endswith(h.target(CUSTOMER).recording_sid or "?")


def test_classification_agent_customer_and_third_party() -> None:
    # Sources as above; the third party is a PSTN number the agent added (flex-project-template
    # conference feature): neither the agent nor the customer.
    participants = [
        _participant(WORKER, None),
        _participant(THIRD, None),
        _participant(CUSTOMER, None),
    ]
    calls = {
        WORKER: _call(WORKER, "client:alice"),
        CUSTOMER: _call(CUSTOMER, CALLED),
        THIRD: _call(THIRD, "+15550001111"),
    }
    legs = classify_legs(outbound_attrs(), participants, calls, CONFERENCE_SID)
    assert legs.customer_call_sid == CUSTOMER
    assert legs.worker_call_sids == (WORKER,)
    assert legs.others == (THIRD,)
    # An internal call (`client_call`, flex-project-template internal-call) has no customer.
    internal = classify_legs(outbound_attrs(client_call=True), participants, calls)
    assert internal.customer_call_sid is None


def test_the_customer_number_matches_in_national_or_e164_form() -> None:
    participants = [_participant(WORKER, None), _participant(CUSTOMER, None)]
    calls = {WORKER: _call(WORKER, "client:alice"), CUSTOMER: _call(CUSTOMER, "+1 555-123-0002")}
    national = classify_legs(outbound_attrs(outbound_to="5551230002", to="5551230002"),
                             participants, calls)  # fmt: skip
    assert national.customer_call_sid == CUSTOMER
    other = classify_legs(outbound_attrs(outbound_to="5551239999", to="5551239999"),
                          participants, calls)  # fmt: skip
    assert other.customer_call_sid is None and other.others == (CUSTOMER,)


def _participant(call_sid: str, label: str | None) -> ParticipantInfo:
    return ParticipantInfo(
        call_sid=call_sid, conference_sid=CONFERENCE_SID, label=label, status="connected"
    )


def _call(call_sid: str, to: str) -> CallInfo:
    return CallInfo(
        sid=call_sid, status="in-progress", direction="outbound-api", from_=FLEX_NUMBER, to=to
    )


def test_a_second_search_while_one_runs_is_dropped(h: Harness) -> None:
    _outbound_accepted(h)
    h.queue.run_all(max_jobs=1)  # the first search ran and is waiting for its next try
    assert (
        h.service.planner.search.run(TASK, 1) == "duplicate"
    )  # e.g. reconcile re-planned the task
    h.twilio.add_party(CUSTOMER, FLEX_NUMBER, CALLED)
    h.twilio.join(CONFERENCE_SID, CUSTOMER)
    h.queue.run_all(max_jobs=20)
    assert [r.call_sid for r in h.twilio.recordings.values()] == [CUSTOMER]
    assert h.service.planner.search.run(TASK, 1) == "known"
