"""The coverage sweep counts each ended leg once its verdict held, and Prometheus reads the
counts (the alert's `flexrec_coverage_unrecorded_calls_total`) from the database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from coverage_day import DAY, LEGS, CoverageDay, build_day
from prometheus_client import generate_latest

from flexrec.coverage.metrics import COVERAGE_COUNTERS
from flexrec.coverage.models import CoverageFinding
from flexrec.coverage.sweep import sweep
from flexrec.db.models import ConferenceParticipantRecord

NOON = DAY + timedelta(hours=12)


@pytest.fixture
def day(tmp_path: Path) -> Iterator[CoverageDay]:
    built = build_day(f"sqlite:///{tmp_path / 'flexrec.db'}")
    yield built
    built.close()


def _scraped() -> str:
    return generate_latest().decode()


def test_a_leg_is_counted_once_after_its_verdict_held(day: CoverageDay) -> None:
    first = sweep(day.call_log, day.sessions, now=NOON)
    # The window is the day before to the day after: the two neighbouring legs are in it.
    assert (first.listed, first.judged, first.counted) == (12, 12, 0)
    assert sweep(day.call_log, day.sessions, now=NOON + timedelta(seconds=60)).counted == 0
    settled = sweep(day.call_log, day.sessions, now=NOON + timedelta(seconds=180))
    assert settled.counted == 12
    again = sweep(day.call_log, day.sessions, now=NOON + timedelta(seconds=400))
    assert (again.listed, again.judged, again.counted) == (12, 0, 0)

    COVERAGE_COUNTERS.refresh(day.sessions)
    text = _scraped()
    for reason in ("twilio_error", "not_started", "stopped"):
        assert f'flexrec_coverage_unrecorded_calls_total{{reason="{reason}"}} 1.0' in text
    assert 'flexrec_coverage_legs_total{outcome="recorded",reason=""} 1.0' in text
    assert 'flexrec_coverage_legs_total{outcome="not_seen",reason="not_seen"} 3.0' in text


def test_a_verdict_that_changes_waits_to_settle_again(day: CoverageDay) -> None:
    sweep(day.call_log, day.sessions, now=NOON)
    # flexrec learns late (a conference callback redelivered after a restart) that G was a
    # third party in task A's conference: the fresh `not_seen` verdict is replaced, not counted.
    with day.sessions() as session:
        session.add(
            ConferenceParticipantRecord(
                conference_sid="CF" + "a" * 32, friendly_name="WT" + "0" * 31 + "1",
                call_sid=LEGS["G"], label=None, updated_at=NOON,
            )
        )  # fmt: skip
        session.commit()
    later = NOON + timedelta(seconds=180)
    assert sweep(day.call_log, day.sessions, now=later).counted == 11
    with day.sessions() as session:
        finding = session.get(CoverageFinding, LEGS["G"])
        assert finding is not None
        assert (finding.outcome, finding.reason, finding.counted) == (
            "not_eligible",
            "third_party",
            False,
        )
    assert sweep(day.call_log, day.sessions, now=later + timedelta(seconds=150)).counted == 1
