"""The coverage sweep: a periodic job that judges each call leg once it has ended, and counts it.

Every few minutes it lists yesterday's, today's and tomorrow's legs from Twilio (the same paged
listings as `flexrec coverage`: a day costs a handful of requests), drops the legs already
counted, and judges the rest. A verdict is counted (`coverage_counts`, what Prometheus reads as
`flexrec_coverage_legs_total` and `flexrec_coverage_unrecorded_calls_total`) once it has held
for `settle_s`: a webhook or reconciliation that lands late (after a restart) may still change a
fresh verdict, and a leg is counted once, whichever process sweeps. Findings older than a week
are dropped; the counts stay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import structlog
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from flexrec.coverage.models import CoverageCount, CoverageFinding
from flexrec.coverage.outcomes import LegCoverage
from flexrec.coverage.period import Period
from flexrec.coverage.report import judge_legs, list_period
from flexrec.ports import JobRegistry
from flexrec.recording.store import write_session
from flexrec.twilio.call_log import CallLogGateway

log = structlog.get_logger(__name__)

JOB_SWEEP = "coverage.sweep"
SETTLE_S = 120.0
KEEP_FINDINGS = timedelta(days=7)
CHUNK = 500


@dataclass
class SweepResult:
    """What one sweep did."""

    listed: int = 0
    judged: int = 0
    counted: int = 0
    twilio_requests: int = 0


def sweep_window(now: datetime) -> Period:
    """Yesterday to the end of tomorrow (UTC): today's legs and the ones around midnight."""
    today = datetime.combine(now.date(), time(0), tzinfo=UTC)
    return Period(today - timedelta(days=1), today + timedelta(days=2))


def _counted(session: Session, sids: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(sids), CHUNK):
        found.update(
            session.scalars(
                select(CoverageFinding.call_sid).where(
                    CoverageFinding.call_sid.in_(sids[i : i + CHUNK]),
                    CoverageFinding.counted.is_(True),
                )
            )
        )
    return found


def _count(session: Session, outcome: str, reason: str) -> None:
    changed = session.execute(
        update(CoverageCount)
        .where(CoverageCount.outcome == outcome, CoverageCount.reason == reason)
        .values(legs=CoverageCount.legs + 1)
    )
    if not getattr(changed, "rowcount", 0):
        session.add(CoverageCount(outcome=outcome, reason=reason, legs=1))


def record_verdicts(
    session: Session, legs: list[LegCoverage], now: datetime, settle_s: float = SETTLE_S
) -> int:
    """Store the ended legs' verdicts; count those that held for `settle_s`. Returns counted."""
    counted = 0
    for leg in legs:
        if leg.outcome == "in_progress":
            continue
        reason = leg.reason or ""
        # Locked on PostgreSQL (two sweeps at once count a leg once); SQLite's write lock is
        # already held.
        row = session.get(CoverageFinding, leg.call_sid, with_for_update=True)
        if row is None:
            session.add(
                CoverageFinding(
                    call_sid=leg.call_sid, outcome=leg.outcome, reason=reason,
                    started_ms=leg.started_ms, judged_at=now, counted=False, updated_at=now,
                )
            )  # fmt: skip
            continue
        if row.counted:
            continue
        if (row.outcome, row.reason) != (leg.outcome, reason):
            row.outcome, row.reason, row.judged_at = leg.outcome, reason, now
        elif (now - row.judged_at).total_seconds() >= settle_s:
            row.counted = True
            _count(session, leg.outcome, reason)
            counted += 1
            if leg.outcome in ("not_recorded", "partly_recorded"):
                log.warning(
                    "eligible call ended unrecorded",
                    call_sid=leg.call_sid, outcome=leg.outcome, reason=reason, detail=leg.detail,
                )  # fmt: skip
        row.updated_at = now
    return counted


def sweep(
    gateway: CallLogGateway,
    sessions: sessionmaker[Session],
    *,
    policy_leg: str = "customer",
    now: datetime | None = None,
    settle_s: float = SETTLE_S,
) -> SweepResult:
    """One sweep: list the window, judge the legs not counted yet, count the settled ones."""
    now = now or datetime.now(UTC)
    window = sweep_window(now)
    listing = list_period(gateway, window)
    result = SweepResult(listed=len(listing.calls), twilio_requests=listing.requests)
    with sessions() as session:
        done = _counted(session, sorted(listing.calls))
    for sid in done:
        listing.calls.pop(sid, None)
    legs, _ = judge_legs(listing, sessions, policy_leg=policy_leg, now=now, period=window)
    result.judged = len(legs)
    # The write lock first: two sweeps at once (two consumers) count a leg once.
    with write_session(sessions) as session:
        result.counted = record_verdicts(session, legs, now, settle_s)
        stale = now - KEEP_FINDINGS
        session.execute(delete(CoverageFinding).where(CoverageFinding.updated_at < stale))
    return result


def register_coverage_sweep(
    queue: JobRegistry,
    gateway: CallLogGateway,
    sessions: sessionmaker[Session],
    *,
    policy_leg: str = "customer",
    every_minutes: int = 5,
) -> None:
    """Run the sweep every `every_minutes` minutes on the queue (0: never)."""
    if every_minutes <= 0:
        return

    def coverage_sweep() -> int:
        result = sweep(gateway, sessions, policy_leg=policy_leg)
        if result.counted:
            log.info("coverage swept", **result.__dict__)
        return result.counted

    queue.register_periodic(JOB_SWEEP, coverage_sweep, every_minutes=every_minutes)
