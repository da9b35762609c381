"""One leg's verdict from Twilio's facts and flexrec's (pure): spans, reasons, live legs."""

from __future__ import annotations

from sim_twilio import fake_sid

from flexrec.coverage.classify import LegContext, classify_leg
from flexrec.coverage.facts import KnownLeg, KnownTarget, KnownTask
from flexrec.twilio.resources import CallInfo, RecordingInfo

CALL = fake_sid("CA", 1)
T0 = 1_772_528_400_000  # 2026-03-03 09:00 UTC


def _call(status: str = "completed", end_s: int | None = 120, to: str = "+15559870000") -> CallInfo:
    end = T0 + end_s * 1000 if end_s is not None else None
    return CallInfo(CALL, status, "inbound", "+15551230001", to, None, T0, end, end_s)


def _rec(n: int, start_s: int, duration_s: int | None, status: str = "completed",
         code: int | None = None, channels: int = 2) -> RecordingInfo:  # fmt: skip
    return RecordingInfo(fake_sid("RE", n), CALL, status, T0 + start_s * 1000, channels,
                         duration_s, "StartCallRecordingAPI", "both", code)  # fmt: skip


def _customer(**task: object) -> KnownLeg:
    fields: dict[str, object] = {
        "sid": fake_sid("WT", 1), "direction": "inbound", "status": "completed",
        "queue_name": "Sales", "policy_decision": "recorded", "internal": False,
        "answered": True, "agent_connected_ms": T0 + 10_000, "customer_call_sid": CALL,
    }  # fmt: skip
    fields.update(task)
    target = KnownTarget("customer", "completed", fake_sid("WT", 1), None)
    return KnownLeg(CALL, role="customer", task=KnownTask(**fields), targets=[target])  # type: ignore[arg-type]


CTX = LegContext(agent_start_ms=T0 + 10_000)
NOW = T0 + 3_600_000


def test_an_absent_recording_replaced_later_leaves_a_named_gap() -> None:
    leg = classify_leg(
        _call(), [_rec(1, 11, 0, "absent", 16102), _rec(2, 30, 90)], _customer(), CTX, NOW
    )
    assert (leg.outcome, leg.reason) == ("partly_recorded", "twilio_error")
    (span,) = leg.unrecorded
    assert ((span.start_ms - T0) // 1000, (span.end_ms - T0) // 1000) == (11, 30)
    assert "16102" in span.detail and leg.start_gap_s == 1.0
    assert leg.recorded_s == 90.0 and leg.talk_s == 110.0
    assert leg.recording_sids == [fake_sid("RE", 2)]


def test_a_span_is_named_by_the_replacement_that_ran_through_it_not_the_first_blip() -> None:
    # The soak's mismatch: the first recording ended absent within a second and its
    # replacement, begun a second later, failed (16105) 55 s on; the span until the next one
    # with media is the failed recording's, as the truth names it.
    recordings = [_rec(1, 9, 0, "absent", 16102), _rec(2, 11, 0, "failed", 16105),
                  _rec(3, 60, 60)]  # fmt: skip
    leg = classify_leg(_call(), recordings, _customer(), CTX, NOW)
    (span,) = leg.unrecorded
    assert (span.reason, span.recording_sid) == ("twilio_error", fake_sid("RE", 2))
    assert "16105" in span.detail


def test_a_start_within_ten_seconds_is_a_start_gap_not_a_span() -> None:
    leg = classify_leg(_call(), [_rec(1, 18, 102)], _customer(), CTX, NOW)
    assert (leg.outcome, leg.start_gap_s, leg.unrecorded) == ("recorded", 8.0, [])


def test_a_late_start_is_an_unrecorded_span() -> None:
    leg = classify_leg(_call(), [_rec(1, 40, 80)], _customer(), CTX, NOW)
    assert (leg.outcome, leg.reason) == ("partly_recorded", "late_start")
    assert leg.unrecorded[0].seconds == 30.0


def test_a_mono_recording_does_not_make_a_call_recorded() -> None:
    leg = classify_leg(_call(), [_rec(1, 0, 120, channels=1)], _customer(), CTX, NOW)
    assert (leg.outcome, leg.reason) == ("not_recorded", "not_started")


def test_a_live_leg_or_a_running_recording_is_judged_later() -> None:
    live = classify_leg(_call("in-progress", None), [_rec(1, 10, None, "in-progress")],
                        _customer(status="assigned"), CTX, NOW)  # fmt: skip
    assert (live.outcome, live.eligible) == ("in_progress", True)
    ending = classify_leg(_call(), [_rec(1, 10, None, "in-progress")], _customer(), CTX, NOW)
    assert ending.outcome == "in_progress"


def test_an_unanswered_outbound_leg_is_not_eligible() -> None:
    leg = classify_leg(_call("no-answer", 20), [], _customer(direction="outbound"), CTX, NOW)
    assert (leg.outcome, leg.reason) == ("not_eligible", "not_answered")


def test_an_unlabelled_participant_is_a_third_party_and_a_client_leg_an_agent() -> None:
    third = classify_leg(_call(), [], KnownLeg(CALL, role="participant"), CTX, NOW)
    assert (third.role, third.reason, third.eligible) == ("third_party", "third_party", False)
    agent = classify_leg(_call(to="client:alice"), [], KnownLeg(CALL), CTX, NOW)
    assert (agent.role, agent.reason) == ("agent", "agent_leg")
    unknown = classify_leg(_call(), [], KnownLeg(CALL), CTX, NOW)
    assert (unknown.outcome, unknown.eligible) == ("not_seen", None)


def test_an_unlabelled_leg_with_the_outbound_tasks_number_is_its_unrecorded_customer() -> None:
    # Flex's outbound dialpad on an account that writes no `conference` into the task: the
    # only unlabelled legs of its conference are the customer (dialled at `outbound_to`) and
    # any third party. A task whose customer leg the service never found (its search cut short
    # by a restart) must show an eligible call not recorded, not a third party's leg.
    attributes = {"direction": "outbound", "outbound_to": "+15551001432", "from": "+15005550006",
                  "to": "+15551001432", "type": "outbound", "name": "+15551001432"}  # fmt: skip
    task = _customer(direction="outbound", customer_call_sid=None, attributes=attributes).task
    dialled = CallInfo(CALL, "completed", "outbound-api", "+15005550006", "+15551001432", None,
                       T0, T0 + 120_000, 120)  # fmt: skip
    leg = classify_leg(dialled, [], KnownLeg(CALL, role="participant", task=task), CTX, NOW)
    assert (leg.role, leg.eligible, leg.outcome, leg.reason) == (
        "customer",
        True,
        "not_recorded",
        "not_started",
    )
    added = CallInfo(CALL, "completed", "outbound-api", "+15005550006", "+15557770000", None,
                     T0, T0 + 120_000, 120)  # fmt: skip
    third = classify_leg(added, [], KnownLeg(CALL, role="participant", task=task), CTX, NOW)
    assert (third.role, third.reason, third.eligible) == ("third_party", "third_party", False)


def test_with_the_worker_leg_policy_the_agent_leg_is_the_eligible_one() -> None:
    ctx = LegContext(agent_start_ms=T0, policy_leg="worker")
    agent = KnownLeg(CALL, role="agent", task=_customer().task)
    leg = classify_leg(_call(to="client:alice"), [_rec(1, 0, 120)], agent, ctx, NOW)
    assert (leg.outcome, leg.eligible) == ("recorded", True)
    customer = classify_leg(_call(), [], _customer(), ctx, NOW)
    assert (customer.outcome, customer.reason) == ("not_eligible", "policy")


def test_flexs_conference_recording_is_not_the_legs_recording() -> None:
    conference = RecordingInfo(fake_sid("RE", 9), CALL, "completed", T0, 2, 120, "Conference",
                               conference_sid=fake_sid("CF", 1))  # fmt: skip
    leg = classify_leg(_call(), [conference], _customer(), CTX, NOW)
    assert (leg.outcome, leg.recordings) == ("not_recorded", [])


def test_a_replacement_that_fails_too_starts_a_span_of_its_own() -> None:
    recordings = [
        _rec(1, 11, 0, "absent", 16102),
        _rec(2, 20, 0, "absent", 16105),  # a failed recording reads absent/16105 over REST
        _rec(3, 35, 85),
    ]
    leg = classify_leg(_call(), recordings, _customer(), CTX, NOW)
    assert [(s.reason, s.recording_sid, s.seconds) for s in leg.unrecorded] == [
        ("twilio_error", fake_sid("RE", 1), 9.0),
        ("twilio_error", fake_sid("RE", 2), 15.0),
    ]


def test_a_stop_by_another_client_leaves_a_span_to_the_end_of_the_call() -> None:
    leg = classify_leg(_call(), [_rec(1, 10, 50)], _customer(), CTX, NOW)
    (span,) = leg.unrecorded
    assert (span.reason, span.recording_sid, span.seconds) == ("stopped", fake_sid("RE", 1), 60.0)
    assert (leg.outcome, leg.recorded_s) == ("partly_recorded", 50.0)
