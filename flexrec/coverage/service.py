"""Coverage reports for the console: one period's report, kept a minute so a page refreshed by
several supervisors costs Twilio one listing, not one per view."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from flexrec.coverage.period import Period
from flexrec.coverage.report import CoverageReport, build_report
from flexrec.twilio.call_log import CallLogGateway


class CoverageReports:
    """Builds reports through the one gateway and flexrec's database; a report lives `ttl_s`."""

    def __init__(
        self,
        gateway: CallLogGateway,
        sessions: Callable[[], Session],
        *,
        policy_leg: str = "customer",
        ttl_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._gateway = gateway
        self._sessions = sessions
        self._policy_leg = policy_leg
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._kept: dict[Period, tuple[float, CoverageReport]] = {}
        self._building: dict[Period, threading.Lock] = {}

    def report(self, period: Period) -> CoverageReport:
        """The period's report, built at most once a minute (concurrent asks share a build)."""
        with self._lock:
            build_lock = self._building.setdefault(period, threading.Lock())
        with build_lock:
            with self._lock:
                kept = self._kept.get(period)
                if kept is not None and self._clock() - kept[0] < self._ttl_s:
                    return kept[1]
            report = build_report(
                self._gateway, self._sessions, period, policy_leg=self._policy_leg,
                now=datetime.now(UTC),
            )  # fmt: skip
            with self._lock:
                now = self._clock()
                self._kept = {p: k for p, k in self._kept.items() if now - k[0] < self._ttl_s}
                self._kept[period] = (now, report)
            return report
