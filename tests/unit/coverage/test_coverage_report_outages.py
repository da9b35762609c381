"""The coverage report names the calls that fell in an outage, from the service's run history."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from coverage_day import DAY, LEGS, T0, CoverageDay, build_day
from rich.console import Console

from flexrec.cli.coverage import print_report
from flexrec.coverage.period import Period
from flexrec.coverage.report import CoverageReport, build_report
from flexrec.recording.owners import OwnerLease


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoverageDay]:
    path: Path = tmp_path_factory.mktemp("coverage") / "flexrec.db"
    built = build_day(f"sqlite:///{path}")
    yield built
    built.close()


class _At:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self) -> datetime:
        return T0 + timedelta(seconds=self.seconds)


@pytest.fixture(scope="module")
def report(day: CoverageDay) -> CoverageReport:
    """The service ran from 08:00 and was killed -9 after its heartbeat at 09:13:15 (call F
    was answered at 09:13:30 and hung up at 09:13:31); it answered again at 09:13:35."""
    clock = _At(-3600)
    running = {101}
    first = OwnerLease(day.sessions, clock, host="h", pid=101, alive=lambda p, _s: p in running)
    first.register()
    first.answering()
    clock.seconds = 795
    first.alive()
    running.discard(101)
    clock.seconds = 800
    second = OwnerLease(day.sessions, clock, host="h", pid=202, alive=lambda p, _s: p in running)
    second.register()
    clock.seconds = 815
    second.answering()
    second.reap()
    clock.seconds = 7200
    second.alive()
    return build_report(day.call_log, day.sessions, Period.day(DAY.date()), now=clock())


def test_a_call_that_fell_in_the_outage_says_flexrec_was_down_then(report: CoverageReport) -> None:
    (leg,) = [leg for leg in report.legs if leg.call_sid == LEGS["F"]]
    assert (leg.outcome, leg.reason) == ("not_recorded", "service_down")
    assert leg.detail.startswith("flexrec was down 09:13:15-09:13:35 UTC")
    assert leg.as_json()["outages"] == [{"start_ms": leg.outages[0].start_ms,
                                         "end_ms": leg.outages[0].end_ms}]  # fmt: skip
    # The other exceptions keep their own reasons: the service answered all through them.
    reasons = {leg.call_sid: leg.reason for leg in report.exceptions}
    assert (reasons[LEGS["E"]], reasons[LEGS["H"]]) == ("twilio_error", "stopped")


def test_the_report_lists_the_outages_of_the_period(report: CoverageReport) -> None:
    assert [o.describe() for o in report.outages] == ["09:13:15-09:13:35 UTC"]
    assert len(report.as_json()["outages"]) == 1
    out = io.StringIO()
    print_report(report, Console(file=out, width=200), only_exceptions=True)
    text = out.getvalue()
    assert "flexrec was down once in the period: 09:13:15-09:13:35 UTC." in text
    assert "not recorded: flexrec was down 09:13:15-09:13:35 UTC" in text
