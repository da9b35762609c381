"""When flexrec was down, from its processes' runs, placed on Twilio's clock (pure)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sim_twilio import fake_sid

from flexrec.coverage.classify import LegContext, classify_leg
from flexrec.coverage.facts import KnownLeg, KnownTarget, KnownTask
from flexrec.coverage.outages import ClockMap, Outage, RunSpan, outages
from flexrec.twilio.resources import CallInfo, RecordingInfo

T0 = datetime(2026, 3, 3, 3, 0, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)
CALL = fake_sid("CA", 1)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _ms(seconds: float) -> int:
    return T0_MS + round(seconds * 1000)


def test_a_real_account_keeps_its_clock() -> None:
    # Twilio's start times are whole seconds; flexrec stores a recording a moment after.
    rng = random.Random(1)
    pairs = [(_at(s + rng.uniform(0.05, 0.9)), _ms(s)) for s in range(0, 3600, 37)]
    clock = ClockMap.fit(pairs)
    assert clock.rate == 1.0
    assert abs(clock.twilio_ms(_at(100)) - _ms(100)) < 1000


def test_a_simulator_clock_eight_times_as_fast_is_found_despite_late_adoptions() -> None:
    rng = random.Random(2)
    sim0 = 1_796_620_413.0

    def sim_ms(real_s: float) -> int:
        return round((sim0 + 8 * real_s) * 1000)

    pairs = [(_at(s + rng.uniform(0.0, 0.2)), sim_ms(s) // 1000 * 1000) for s in range(0, 1600, 3)]
    # A few recordings flexrec adopted long after Twilio started them.
    pairs += [(_at(s + 6), sim_ms(s)) for s in range(5, 1600, 90)]
    clock = ClockMap.fit(pairs)
    assert abs(clock.rate - 8.0) < 0.01
    assert abs(clock.twilio_ms(_at(1000)) - sim_ms(1000)) < 2000


def test_few_or_close_moments_say_nothing_of_the_rate() -> None:
    assert ClockMap.fit([]) == ClockMap()
    close = [(_at(0), _ms(0) + 8000), (_at(10), _ms(80) + 8000)]  # 10 s apart: no rate
    clock = ClockMap.fit(close)
    assert clock.rate == 1.0


def test_the_service_is_down_between_runs_and_after_the_last_one_stopped() -> None:
    runs = [
        RunSpan(answering_at=_at(0), alive_at=_at(724), ended_at=_at(724.4)),  # killed
        RunSpan(answering_at=_at(729), alive_at=_at(900), ended_at=_at(900)),  # stopped
        RunSpan(answering_at=None, alive_at=_at(2000), ended_at=None),  # a worker: no webhooks
    ]
    found = outages(runs, ClockMap(), now=_at(2000))
    assert found == [Outage(_ms(724.4), _ms(729)), Outage(_ms(900), None)]
    assert found[0].describe() == "03:12:04-03:12:09 UTC"
    assert found[1].describe() == "from 03:15:00 UTC"


def test_a_run_still_beating_is_up_and_overlapping_runs_leave_no_outage() -> None:
    runs = [
        RunSpan(answering_at=_at(0), alive_at=_at(100), ended_at=_at(100)),
        RunSpan(answering_at=_at(50), alive_at=_at(995), ended_at=None),  # beats: up till now
    ]
    assert outages(runs, ClockMap(), now=_at(1000)) == []
    # The same run gone silent for minutes with nobody noticing: down since its last beat.
    assert outages(runs, ClockMap(), now=_at(1300)) == [Outage(_ms(995), None)]


def _call(end_s: int) -> CallInfo:
    return CallInfo(CALL, "completed", "inbound", "+15551230001", "+15559870000", None,
                    T0_MS, _ms(end_s), end_s)  # fmt: skip


def _rec(n: int, start_s: int, duration_s: int, status: str = "completed",
         code: int | None = None) -> RecordingInfo:  # fmt: skip
    return RecordingInfo(fake_sid("RE", n), CALL, status, _ms(start_s), 2, duration_s,
                         "StartCallRecordingAPI", "both", code)  # fmt: skip


def _customer(last_error: str | None = None) -> KnownLeg:
    task = KnownTask(
        sid=fake_sid("WT", 1), direction="inbound", status="completed", queue_name="Sales",
        policy_decision="recorded", internal=False, answered=True,
        agent_connected_ms=_ms(720), customer_call_sid=CALL,
    )  # fmt: skip
    target = KnownTarget("customer", "failed", task.sid, last_error)
    return KnownLeg(CALL, role="customer", task=task, targets=[target])


DOWN = (Outage(_ms(724), _ms(729)),)
NOW = _ms(7200)


def test_a_call_the_service_was_down_for_is_named_so_with_the_outage() -> None:
    # Talk 03:12:00-03:12:12: flexrec answered for 7 s of it, less than a start may take.
    known = _customer("Twilio error 21220: the call is not in progress")
    leg = classify_leg(_call(732), [], known, LegContext(_ms(720), outages=DOWN), NOW)
    assert (leg.outcome, leg.reason) == ("not_recorded", "service_down")
    assert leg.detail.startswith("flexrec was down 03:12:04-03:12:09 UTC")
    assert leg.outages == list(DOWN)
    # Without the outage the same call is not started, as before.
    leg = classify_leg(_call(732), [], known, LegContext(_ms(720)), NOW)
    assert (leg.outcome, leg.reason) == ("not_recorded", "not_started")


def test_a_call_the_service_answered_long_enough_is_not_excused_by_an_outage() -> None:
    leg = classify_leg(_call(780), [], _customer(), LegContext(_ms(720), outages=DOWN), NOW)
    assert (leg.outcome, leg.reason) == ("not_recorded", "not_started")
    assert "flexrec was down 03:12:04-03:12:09 UTC" in leg.detail


def test_a_late_start_while_the_service_was_down_is_a_service_down_span() -> None:
    down = (Outage(_ms(722), _ms(748)),)
    ctx = LegContext(_ms(720), outages=down)
    leg = classify_leg(_call(840), [_rec(1, 750, 90)], _customer(), ctx, NOW)
    assert (leg.outcome, leg.reason) == ("partly_recorded", "service_down")
    (span,) = leg.unrecorded
    assert ((span.start_ms - T0_MS) // 1000, (span.end_ms - T0_MS) // 1000) == (720, 750)
    assert "03:12:02-03:12:28 UTC" in span.detail


def test_a_span_a_failed_recording_began_keeps_its_reason_and_names_the_outage() -> None:
    recordings = [_rec(1, 721, 0, "failed", 16105), _rec(2, 760, 80)]
    leg = classify_leg(_call(840), recordings, _customer(), LegContext(_ms(720), outages=DOWN),
                       NOW)  # fmt: skip
    (span,) = leg.unrecorded
    assert (span.reason, span.recording_sid) == ("twilio_error", fake_sid("RE", 1))
    assert "16105" in span.detail and "flexrec was down 03:12:04-03:12:09 UTC" in span.detail
