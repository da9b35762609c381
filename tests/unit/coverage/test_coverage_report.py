"""The coverage report of a day the real recording service went through (tests/coverage_day.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from coverage_day import DAY, LEGS, TASKS, CoverageDay, build_day

from flexrec.coverage.period import Period
from flexrec.coverage.report import CoverageReport, build_report


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoverageDay]:
    path: Path = tmp_path_factory.mktemp("coverage") / "flexrec.db"
    built = build_day(f"sqlite:///{path}")
    yield built
    built.close()


@pytest.fixture(scope="module")
def report(day: CoverageDay) -> CoverageReport:
    return build_report(day.call_log, day.sessions, Period.day(DAY.date()))


def _leg(report: CoverageReport, name: str) -> dict[str, object]:
    (found,) = [leg for leg in report.legs if leg.call_sid == LEGS[name]]
    return found.as_json()


def test_every_leg_twilio_has_in_the_period_is_listed_once(report: CoverageReport) -> None:
    assert sorted(leg.call_sid for leg in report.legs) == sorted(LEGS.values())


@pytest.mark.parametrize(
    ("name", "outcome", "reason", "eligible"),
    [
        ("A", "recorded", None, True),
        ("A_AGENT", "not_eligible", "agent_leg", False),
        ("B", "not_eligible", "abandoned", False),
        ("C1", "not_eligible", "internal", False),
        ("C2", "not_eligible", "internal", False),
        ("D", "not_eligible", "policy", False),
        ("E", "not_recorded", "twilio_error", True),
        ("F", "not_recorded", "not_started", True),
        ("G", "not_seen", "not_seen", None),
        ("H", "partly_recorded", "stopped", True),
    ],
)
def test_each_leg_has_its_outcome_and_reason(
    report: CoverageReport, name: str, outcome: str, reason: str | None, eligible: bool | None
) -> None:
    leg = _leg(report, name)
    assert (leg["outcome"], leg["reason"], leg["eligible"]) == (outcome, reason, eligible)


def test_reasons_name_the_rule_the_error_code_and_the_span(report: CoverageReport) -> None:
    assert _leg(report, "D")["detail"] == "queue excluded (queue Internal)"
    assert "16102" in str(_leg(report, "E")["detail"])
    assert "21220" in str(_leg(report, "F")["detail"])
    (span,) = _leg(report, "H")["unrecorded"]  # type: ignore[misc]
    assert span["reason"] == "stopped"
    assert (span["end_ms"] - span["start_ms"]) // 1000 == 60  # 09:17:50 to the end at 09:18:50
    assert _leg(report, "A")["task_sid"] == TASKS["A"]


def test_recorded_leg_figures_count_talk_from_the_agent_and_leave_pauses_out(
    report: CoverageReport,
) -> None:
    leg = _leg(report, "A")
    # Talk from the agent's leg starting (09:00:09, after the customer's) to the end at
    # 09:02:00; recorded from 09:00:10, paused 30 s.
    assert leg["talk_s"] == 111.0
    assert leg["paused_s"] == 30.0
    assert leg["recorded_s"] == 80.0
    assert leg["start_gap_s"] == 1.0
    assert leg["recording_sids"] and leg["unrecorded"] == []


def test_summary_says_which_eligible_calls_were_recorded(report: CoverageReport) -> None:
    s = report.as_json()["summary"]
    assert (s["eligible_calls"], s["recorded_calls"], s["fully_recorded_calls"]) == (4, 2, 1)
    assert (s["not_recorded_calls"], s["not_seen_legs"], s["in_progress_legs"]) == (2, 1, 0)
    # eligible talk: A 111-30, E 90, F 1, H 120 = 292 s; recorded: A 80 + H 60 = 140 s
    assert (s["eligible_talk_s"], s["recorded_talk_s"]) == (292.0, 140.0)
    assert s["talk_time_recorded_pct"] == 47.95
    assert report.as_json()["exceptions"] == [LEGS[n] for n in ("E", "F", "G", "H")]


def test_twilio_is_asked_page_by_page_never_per_call(day: CoverageDay) -> None:
    before = len(day.twilio.http_requests)
    report = build_report(day.call_log, day.sessions, Period.day(DAY.date()))
    asked = day.twilio.http_requests[before:]
    # 11 legs on the day and the next at 3 a page, 3 recordings: 4 + 1 list requests, and no
    # lookup per leg
    account = f"/2010-04-01/Accounts/{day.twilio.account_sid}"
    assert asked == [("GET", f"{account}/Calls.json")] * 4 + [("GET", f"{account}/Recordings.json")]
    assert report.twilio_requests == 5
