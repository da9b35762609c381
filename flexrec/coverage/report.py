"""The coverage report: every call leg Twilio has in a period, each with its outcome.

Twilio is the source of the legs (List Calls on the account, not what webhooks told flexrec),
and of their recordings (List Recordings of the same days): two paged listings, a handful of
requests for a day, never one per call. flexrec's own tables (flexrec.coverage.facts) add what
only it knows: which task a leg belongs to, the policy's decision, agent pauses.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from flexrec.coverage.classify import LegContext, classify_leg
from flexrec.coverage.facts import KnownLeg, known_legs, service_runs
from flexrec.coverage.outages import ClockMap, Outage, outages
from flexrec.coverage.outcomes import (
    ELIGIBLE_OUTCOMES,
    OUTCOMES,
    RECORDED_OUTCOMES,
    LegCoverage,
)
from flexrec.coverage.period import Period
from flexrec.twilio.call_log import CallLogGateway
from flexrec.twilio.resources import CallInfo, RecordingInfo

# A recording is created after its call started; one on a long call may begin the next day.
RECORDING_SLACK = timedelta(days=1)


@dataclass
class CoverageSummary:
    """The figures an auditor reads first."""

    legs: int = 0
    by_outcome: dict[str, int] = field(default_factory=dict)
    eligible_calls: int = 0
    recorded_calls: int = 0  # fully or partly
    fully_recorded_calls: int = 0
    not_recorded_calls: int = 0
    not_seen_legs: int = 0
    in_progress_legs: int = 0
    eligible_talk_s: float = 0.0  # pauses excluded
    recorded_talk_s: float = 0.0
    paused_s: float = 0.0

    @property
    def talk_time_recorded_pct(self) -> float | None:
        """Share of eligible talk time a recording covered (None: no eligible talk time)."""
        if self.eligible_talk_s <= 0:
            return None
        return round(100.0 * self.recorded_talk_s / self.eligible_talk_s, 2)


@dataclass
class CoverageReport:
    """The report of one period."""

    period: Period
    account_sid: str
    generated_at: datetime
    legs: list[LegCoverage]
    summary: CoverageSummary
    twilio_requests: int = 0
    # When flexrec was down during the period (Twilio's clock), oldest first.
    outages: list[Outage] = field(default_factory=list)

    @property
    def exceptions(self) -> list[LegCoverage]:
        """Legs an auditor must read: eligible but not fully recorded, or never seen."""
        return [
            leg
            for leg in self.legs
            if leg.outcome in ("partly_recorded", "not_recorded", "not_seen")
        ]

    def as_json(self) -> dict[str, Any]:
        """The whole report as JSON-able data."""
        s = self.summary
        return {
            "period": {
                "since": self.period.since.isoformat(),
                "until": self.period.until.isoformat(),
            },
            "account_sid": self.account_sid,
            "generated_at": self.generated_at.isoformat(),
            "twilio_requests": self.twilio_requests,
            "summary": {
                "legs": s.legs,
                "by_outcome": s.by_outcome,
                "eligible_calls": s.eligible_calls,
                "recorded_calls": s.recorded_calls,
                "fully_recorded_calls": s.fully_recorded_calls,
                "not_recorded_calls": s.not_recorded_calls,
                "not_seen_legs": s.not_seen_legs,
                "in_progress_legs": s.in_progress_legs,
                "eligible_talk_s": round(s.eligible_talk_s, 1),
                "recorded_talk_s": round(s.recorded_talk_s, 1),
                "paused_s": round(s.paused_s, 1),
                "talk_time_recorded_pct": s.talk_time_recorded_pct,
            },
            "exceptions": [leg.call_sid for leg in self.exceptions],
            "outages": [asdict(o) for o in self.outages],
            "legs": [leg.as_json() for leg in self.legs],
        }


def summarise(legs: list[LegCoverage]) -> CoverageSummary:
    """The summary figures of classified legs."""
    s = CoverageSummary(legs=len(legs), by_outcome=dict.fromkeys(OUTCOMES, 0))
    for leg in legs:
        s.by_outcome[leg.outcome] += 1
        if leg.outcome in ELIGIBLE_OUTCOMES:
            s.eligible_calls += 1
            s.recorded_calls += leg.outcome in RECORDED_OUTCOMES
            s.fully_recorded_calls += leg.outcome == "recorded"
            s.not_recorded_calls += leg.outcome == "not_recorded"
            s.eligible_talk_s += max(0.0, leg.talk_s - leg.paused_s)
            s.recorded_talk_s += leg.recorded_s
            s.paused_s += leg.paused_s
        s.not_seen_legs += leg.outcome == "not_seen"
        s.in_progress_legs += leg.outcome == "in_progress"
    return s


def _agent_starts(calls: dict[str, CallInfo], known: dict[str, KnownLeg]) -> dict[str, int]:
    """Per task: when its first agent leg started (Twilio's clock), else its first acceptance."""
    starts: dict[str, int] = {}
    for sid, leg in known.items():
        task = leg.task
        start = calls[sid].start_time_ms
        if task is None or start is None or leg.role != "agent":
            continue
        starts[task.sid] = min(start, starts.get(task.sid, start))
    for leg in known.values():
        task = leg.task
        if task is not None and task.sid not in starts and task.agent_connected_ms is not None:
            starts[task.sid] = task.agent_connected_ms
    return starts


@dataclass
class PeriodListing:
    """What Twilio listed for a period: its legs, their recordings, and the requests spent."""

    calls: dict[str, CallInfo]
    recordings: dict[str, list[RecordingInfo]]
    requests: int


def list_period(gateway: CallLogGateway, period: Period) -> PeriodListing:
    """The legs that started in the period and their recordings, page by page."""
    requests = 0
    calls: dict[str, CallInfo] = {}
    for page in gateway.call_pages(period.first_day, period.last_day):
        requests += 1
        for call in page:
            if period.holds(call.start_time_ms):
                calls[call.sid] = call
    recordings: dict[str, list[RecordingInfo]] = defaultdict(list)
    last_day = (period.until + RECORDING_SLACK).date()
    for rec_page in gateway.recording_pages(period.first_day, last_day):
        requests += 1
        for rec in rec_page:
            if rec.call_sid in calls:
                recordings[rec.call_sid].append(rec)
    return PeriodListing(calls, dict(recordings), requests)


def _clock_map(listing: PeriodListing, known: dict[str, KnownLeg]) -> ClockMap:
    """Twilio's clock against flexrec's, from each recording flexrec started: Twilio's start
    time beside the moment flexrec stored it."""
    pairs = [
        (mine.stored_at, rec.start_time_ms)
        for sid, leg in known.items()
        for rec in listing.recordings.get(sid, ())
        if rec.start_time_ms is not None
        and (mine := leg.recordings.get(rec.sid)) is not None
        and mine.by_flexrec
        and mine.stored_at is not None
    ]
    return ClockMap.fit(pairs)


def period_outages(
    listing: PeriodListing, known: dict[str, KnownLeg], sessions: Callable[[], Session],
    period: Period, now: datetime,
) -> list[Outage]:  # fmt: skip
    """When flexrec was down around the period's legs (Twilio's clock)."""
    clock = _clock_map(listing, known)
    since = datetime.fromtimestamp((period.since.timestamp() - clock.offset_s) / clock.rate, UTC)
    with sessions() as session:
        runs = service_runs(session, since)
    return [o for o in outages(runs, clock, now) if o.end_ms is None or o.end_ms > o.start_ms]


def judge_legs(
    listing: PeriodListing,
    sessions: Callable[[], Session],
    *,
    policy_leg: str = "customer",
    now: datetime,
    period: Period | None = None,
) -> tuple[list[LegCoverage], list[Outage]]:
    """Each listed leg's verdict, oldest first, with what flexrec's tables know of it; and the
    outages of the service around them (an unrecorded stretch that fell in one says so)."""
    calls = listing.calls
    with sessions() as session:
        known = known_legs(session, calls)
    starts = _agent_starts(calls, known)
    now_ms = int(now.timestamp() * 1000)
    first_start = min((c.start_time_ms for c in calls.values() if c.start_time_ms), default=now_ms)
    around = period or Period(datetime.fromtimestamp(first_start / 1000, UTC), now)
    down = period_outages(listing, known, sessions, around, now)
    legs = []
    for sid, call in sorted(calls.items(), key=lambda item: (item[1].start_time_ms or 0, item[0])):
        task = known[sid].task
        ctx = LegContext(
            agent_start_ms=starts.get(task.sid) if task else None,
            policy_leg=policy_leg,
            outages=tuple(down),
        )
        legs.append(classify_leg(call, listing.recordings.get(sid, []), known[sid], ctx, now_ms))
    return legs, down


def build_report(
    gateway: CallLogGateway,
    sessions: Callable[[], Session],
    period: Period,
    *,
    policy_leg: str = "customer",
    now: datetime | None = None,
) -> CoverageReport:
    """List the period's legs and recordings from Twilio and judge each leg."""
    now = now or datetime.now(UTC)
    listing = list_period(gateway, period)
    legs, down = judge_legs(listing, sessions, policy_leg=policy_leg, now=now, period=period)
    since_ms, until_ms = (int(m.timestamp() * 1000) for m in (period.since, period.until))
    in_period = [o for o in down if o.overlap_ms(since_ms, until_ms) > 0]
    return CoverageReport(
        period=period,
        account_sid=gateway.account_sid,
        generated_at=now,
        legs=legs,
        summary=summarise(legs),
        twilio_requests=listing.requests,
        outages=in_period,
    )
