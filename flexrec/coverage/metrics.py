"""The coverage counters Prometheus scrapes, read from the database (one truth for every process).

`flexrec_coverage_legs_total{outcome,reason}`: ended legs counted by the sweep, by verdict.
`flexrec_coverage_unrecorded_calls_total{reason}`: eligible calls that ended not (or only partly)
recorded, by the reason of their first unrecorded span: what the alert fires on. Counted rows
are never removed, so each series only grows; every web process reports the same values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from threading import Lock

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import select
from sqlalchemy.orm import Session

from flexrec.coverage.models import CoverageCount

UNRECORDED = ("not_recorded", "partly_recorded")


class CoverageCounters(Collector):
    """A collector whose values are the `coverage_counts` rows last read by `refresh`."""

    def __init__(self) -> None:
        self._lock = Lock()
        self._counts: dict[tuple[str, str], int] = {}

    def refresh(self, sessions: Callable[[], Session]) -> None:
        """Read the counts (a few rows) from the database."""
        with sessions() as session:
            rows = session.execute(
                select(CoverageCount.outcome, CoverageCount.reason, CoverageCount.legs)
            ).all()
        with self._lock:
            self._counts = {(outcome, reason): int(legs) for outcome, reason, legs in rows}

    def collect(self) -> Iterator[Metric]:
        """The two counter families."""
        with self._lock:
            counts = dict(self._counts)
        legs = CounterMetricFamily(
            "flexrec_coverage_legs",
            "Ended call legs judged by the coverage sweep, by outcome and reason",
            labels=["outcome", "reason"],
        )
        unrecorded = CounterMetricFamily(
            "flexrec_coverage_unrecorded_calls",
            "Eligible calls that ended not recorded or only partly recorded, by reason",
            labels=["reason"],
        )
        by_reason: dict[str, int] = {}
        for (outcome, reason), value in sorted(counts.items()):
            legs.add_metric([outcome, reason], value)
            if outcome in UNRECORDED:
                by_reason[reason] = by_reason.get(reason, 0) + value
        for reason, value in sorted(by_reason.items()):
            unrecorded.add_metric([reason], value)
        yield legs
        yield unrecorded


COVERAGE_COUNTERS = CoverageCounters()
REGISTRY.register(COVERAGE_COUNTERS)
