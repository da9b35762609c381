"""The demo's `coverage_agrees`: flexrec's report against the simulator's truth, leg by leg."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flexrec.coverage.outcomes import LegCoverage, RecordingFacts, Span
from flexrec.coverage.period import Period
from flexrec.coverage.report import CoverageReport, summarise
from flexrec.demo.coverage_check import Downtime, compare, truth_period

T0 = 1_772_528_400_000
CUSTOMER, AGENT, THIRD = "CA" + "1" * 32, "CA" + "2" * 32, "CA" + "3" * 32
RE1, RE2 = "RE" + "1" * 32, "RE" + "2" * 32


def _truth(**extra: Any) -> dict[str, Any]:
    item = {
        "scenario": "basic",
        "direction": "inbound",
        "eligible": True,
        "legs": [
            {"call_sid": CUSTOMER, "party": "customer", "start_time_ms": T0,
             "end_time_ms": T0 + 120_000},
            {"call_sid": AGENT, "party": "worker", "start_time_ms": T0 + 9_000},
            {"call_sid": THIRD, "party": "third", "start_time_ms": T0 + 30_000},
        ],
        "recordings": [{"sid": RE2, "call_sid": CUSTOMER, "channels": 2, "status": "completed"}],
        "faults": [],
    }  # fmt: skip
    item.update(extra)
    return item


def _leg(sid: str, role: str, outcome: str, reason: str | None, **fields: Any) -> LegCoverage:
    eligible = {"not_eligible": False, "not_seen": None}.get(outcome, True)
    return LegCoverage(sid, T0, T0 + 120_000, "completed", "inbound", None, None, role, None,
                       eligible, outcome, reason, **fields)  # type: ignore[arg-type]  # fmt: skip


def _report(customer: LegCoverage, third_reason: str = "not_seen") -> CoverageReport:
    third = _leg(THIRD, "unknown", third_reason if third_reason == "not_seen" else "not_eligible",
                 third_reason)  # fmt: skip
    legs = [customer, _leg(AGENT, "agent", "not_eligible", "agent_leg"), third]
    now = datetime.now(UTC)
    return CoverageReport(Period(now, now), "AC", now, legs, summarise(legs))


def _recorded(*spans: Span, **fields: Any) -> LegCoverage:
    rec = RecordingFacts(RE2, "completed", 2, "StartCallRecordingAPI", T0, 100, None, True)
    outcome = "partly_recorded" if spans else "recorded"
    return _leg(CUSTOMER, "customer", outcome, spans[0].reason if spans else None,
                recordings=[rec], unrecorded=list(spans), **fields)  # fmt: skip


def test_a_report_that_matches_the_truth_agrees() -> None:
    check = compare(_report(_recorded()), [_truth()])
    assert (check.agrees, check.legs_checked) == (True, 3)
    # a third party flexrec classified is as good as one it never saw
    assert compare(_report(_recorded(), "third_party"), [_truth()]).agrees


def test_a_different_recording_or_verdict_is_a_mismatch() -> None:
    other = _truth(recordings=[{"sid": RE1, "call_sid": CUSTOMER, "channels": 2,
                                "status": "completed"}])  # fmt: skip
    (problem,) = compare(_report(_recorded()), [other]).mismatches
    assert "recordings" in problem and RE1 in problem
    abandoned = _truth(scenario="abandon", eligible=False, recordings=[])
    (problem,) = compare(_report(_recorded()), [abandoned]).mismatches
    assert "not eligible in truth" in problem


def test_an_early_end_must_be_named_with_its_reason() -> None:
    fault = {"kind": "recording_absent", "call_sid": CUSTOMER, "recording_sid": RE1,
             "at_ms": T0 + 12_000, "next_recording": {"sid": RE2, "gap_ms": 9_000}}  # fmt: skip
    truth = [_truth(faults=[fault])]
    (problem,) = compare(_report(_recorded()), truth).mismatches
    assert "early ends" in problem
    named = Span(T0 + 12_000, T0 + 21_000, "twilio_error", "error 16102", RE1)
    assert compare(_report(_recorded(named)), truth).agrees
    stopped = Span(T0 + 12_000, T0 + 21_000, "stopped", "stopped", RE1)
    assert not compare(_report(_recorded(stopped)), truth).agrees
    # a span naming a recording the simulator never ended early is a mismatch too
    assert not compare(_report(_recorded(named)), [_truth()]).agrees


def test_legs_missing_from_the_report_or_unknown_to_the_truth_are_mismatches() -> None:
    report = _report(_recorded())
    report.legs.append(_leg("CA" + "9" * 32, "unknown", "not_seen", "not_seen"))
    problems = compare(report, [_truth()]).mismatches
    assert problems == [f"{'CA' + '9' * 32}: in the report, unknown to the truth"]
    del report.legs[1]
    assert any("not in the report" in p for p in compare(report, [_truth()]).mismatches)


def test_the_period_holds_every_started_leg() -> None:
    period = truth_period([_truth()])
    assert period.holds(T0) and period.holds(T0 + 30_000)


def test_an_eligible_call_the_service_never_saw_is_reported_as_such() -> None:
    unseen = _leg(CUSTOMER, "unknown", "not_seen", "not_seen")
    lost = _truth(recordings=[])
    assert compare(_report(unseen), [lost]).agrees
    # ... but not when Twilio has a recording on it that the report would then have listed
    (problem,) = compare(_report(unseen), [_truth()]).mismatches
    assert "recordings" in problem


def test_a_call_lost_while_the_service_was_killed_must_be_named_service_down() -> None:
    # Talk 0-30 s; the service was killed at 5 s and answered again at 28 s: up 7 s of it.
    truth = [_truth(recordings=[], expected_window={"start_ms": T0, "end_ms": T0 + 30_000})]
    killed = Downtime([(T0 + 5_000, T0 + 28_000)], tolerance_ms=1_000)

    def lost(reason: str) -> CoverageReport:
        return _report(_leg(CUSTOMER, "customer", "not_recorded", reason))

    assert compare(lost("service_down"), truth, killed).agrees
    (problem,) = compare(lost("not_started"), truth, killed).mismatches
    assert "service up 7.0 s of the talk in truth, not_started in the report" in problem
    # Without the outage in truth, a call the report puts down to one is a mismatch too.
    (problem,) = compare(lost("service_down"), truth).mismatches
    assert "service_down in the report" in problem
    # Up 10.5 s of it: within the tolerance of the 10 s budget, either name is right.
    close = Downtime([(T0 + 5_000, T0 + 24_500)], tolerance_ms=1_000)
    assert compare(lost("service_down"), truth, close).agrees
    assert compare(lost("not_started"), truth, close).agrees
