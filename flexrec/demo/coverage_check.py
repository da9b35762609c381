"""The demo's `coverage_agrees`: flexrec's own coverage report against the simulator's truth.

flexrec's report is built as `flexrec coverage` builds it (Twilio's call and recording lists,
here the simulator's, plus the service's database); the truth is `/_sim/truth`. They agree when,
leg by leg of every interaction:
- a customer leg of an eligible call is eligible (or, with no recording on it, never seen: the
  service lost the call and the report says so), recorded exactly when the truth has a
  dual-channel recording with media on it, with the same recording SIDs, and every recording
  the simulator ended early on it (absent, failed, stopped by another client) that left a gap
  of 4 s or more is named by an unrecorded span with its reason (no span names another);
- a customer leg of a call that is not eligible is not eligible, for the truth's reason
  (abandoned in the queue, not answered, internal);
- an agent's leg is an agent leg (or, on an internal call, internal), never eligible;
- a third party's leg is a third party, or a leg flexrec never saw: either way never eligible;
- no leg is missing (unless Twilio never started it, so lists it under no start time) and the
  report has no leg the truth does not know;
- an eligible customer leg left without media is named `service_down` exactly when the run had
  the service killed for all but less than the start budget of its talk (`downtime_ms`, the
  spans from each kill -9 to the health check's answer). flexrec's outage runs from its last
  sign of life to its first answer, so a call within `tolerance_ms` of the budget may go
  either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from twilio.rest import Client

from flexrec.coverage.classify import START_BUDGET_MS, TOLERANCE_MS
from flexrec.coverage.outcomes import RECORDED_OUTCOMES, LegCoverage
from flexrec.coverage.period import Period
from flexrec.coverage.report import CoverageReport, build_report
from flexrec.db.base import make_engine, make_session_factory
from flexrec.twilio.client import PooledHttpClient
from flexrec.twilio.gateway import SdkGateway
from flexsim import SimRunner

# The reason the report gives the span an early-ended recording left, by the truth's fault kind
# (a `failed` recording reads `absent` with 16105 over REST).
_FAULT_REASON = {
    "recording_absent": "twilio_error",
    "recording_failed": "twilio_error",
    "recording_stopped": "stopped",
}
# flexrec's outage begins at its last sign of life (its last heartbeat, a second apart, or a
# later row it wrote) and ends at its first answer; the truth's at the kill and at the health
# check's answer. The 2,000-call soak at load 4-12 measured them 0.04-1.9 s apart at the start
# and 0.2-2.0 s at the end (a starved heartbeat thread; a slow first health check).
EDGE_REAL_S = 2.0
# The truth's reason a customer leg is not eligible, by scenario outcome.
_NOT_ELIGIBLE_REASON = {"abandon": "abandoned", "no_answer": "not_answered", "internal": "internal"}


@dataclass(frozen=True)
class Downtime:
    """When the run had the service killed (simulated epoch ms), and how closely flexrec's own
    outage edges may be expected to match (its last sign of life; its first answer)."""

    spans_ms: Sequence[tuple[int, int]] = ()
    tolerance_ms: int = 0

    @classmethod
    def of_run(cls, spans_ms: Sequence[tuple[int, int]], scale: float) -> Downtime:
        """A run's kills on a clock `scale` times as fast as the wall's: flexrec's edges are
        within `EDGE_REAL_S` real seconds of the truth's."""
        return cls(spans_ms, round(EDGE_REAL_S * scale * 1000))

    def answering_ms(self, start_ms: int, end_ms: int) -> tuple[int, bool]:
        """How long the service answered within [start_ms, end_ms), and whether it was ever
        down then."""
        down = sum(max(0, min(end_ms, b) - max(start_ms, a)) for a, b in self.spans_ms)
        return end_ms - start_ms - down, down > 0


def _down_verdict(item: dict[str, Any], leg: LegCoverage, downtime: Downtime) -> str | None:
    """An unrecorded call is `service_down` in the report when the truth says the service was
    down for all but less than the start budget of its talk, and only then."""
    window = item.get("expected_window") or {}
    if window.get("start_ms") is None or window.get("end_ms") is None:
        return None
    up_ms, touched = downtime.answering_ms(int(window["start_ms"]), int(window["end_ms"]))
    named = leg.reason == "service_down"
    said = f"service up {up_ms / 1000:.1f} s of the talk in truth, {leg.reason} in the report"
    if touched and up_ms < START_BUDGET_MS - downtime.tolerance_ms and not named:
        return said
    if named and (not touched or up_ms > START_BUDGET_MS + downtime.tolerance_ms):
        return said
    return None


@dataclass
class CoverageCheck:
    """The comparison's verdict."""

    legs_checked: int = 0
    mismatches: list[str] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        """True when every leg agreed."""
        return not self.mismatches


def _media_sids(item: dict[str, Any], call_sid: str) -> set[str]:
    return {
        str(r["sid"])
        for r in item.get("recordings", [])
        if r.get("call_sid") == call_sid
        and r.get("channels") == 2
        and not r.get("conference_sid")
        and r.get("status") == "completed"
    }


def _early_ends(item: dict[str, Any], truth_leg: dict[str, Any]) -> tuple[dict[str, str], set[str]]:
    """The leg's early-ended recordings the report must name (by SID, with the reason), and
    those it may name (their gap is within Twilio's whole-second times)."""
    must: dict[str, str] = {}
    may: set[str] = set()
    call_sid = truth_leg["call_sid"]
    for fault in item.get("faults") or []:
        reason = _FAULT_REASON.get(str(fault.get("kind")))
        if reason is None or fault.get("call_sid") != call_sid:
            continue
        following = fault.get("next_recording")
        if following is not None and following.get("gap_ms") is not None:
            gap_ms = int(following["gap_ms"])
        else:
            gap_ms = int(truth_leg.get("end_time_ms") or 0) - int(fault.get("at_ms") or 0)
        sid = str(fault.get("recording_sid"))
        may.add(sid)
        if gap_ms >= 2 * TOLERANCE_MS:
            must[sid] = reason
    return must, may


def _spans_verdict(item: dict[str, Any], truth_leg: dict[str, Any], leg: LegCoverage) -> str | None:
    must, may = _early_ends(item, truth_leg)
    named = {
        span.recording_sid: span.reason
        for span in leg.unrecorded
        if span.reason in ("twilio_error", "stopped") and span.recording_sid
    }
    if leg.outcome == "not_recorded":
        # Nothing ever had media: the report names the first recording that failed.
        if must and not set(named) <= may:
            return f"early ends {sorted(must)} in truth, {sorted(named)} in the report"
        return None
    missing = {sid: r for sid, r in must.items() if named.get(sid) != r}
    unknown = set(named) - may
    if missing or unknown:
        return f"early ends {must} in truth, {named} in the report"
    return None


def _customer_verdict(
    item: dict[str, Any], truth_leg: dict[str, Any], leg: LegCoverage, downtime: Downtime
) -> str | None:
    if item.get("eligible"):
        expected = _media_sids(item, leg.call_sid)
        got = set(leg.recording_sids)
        if expected != got:
            return f"recordings {sorted(expected)} in truth, {sorted(got)} in the report"
        if leg.outcome == "not_seen" and not expected:
            # A call the service never heard of (every webhook lost, the task over before any
            # reconciliation): the report cannot know it was eligible, and lists it among the
            # exceptions as never seen, which is the truth about it.
            return None
        if leg.eligible is not True:
            return f"eligible in truth, {leg.outcome} ({leg.reason}) in the report"
        if bool(expected) != (leg.outcome in RECORDED_OUTCOMES):
            return f"recorded={bool(expected)} in truth, {leg.outcome} in the report"
        if not expected:
            return _down_verdict(item, leg, downtime) or _spans_verdict(item, truth_leg, leg)
        return _spans_verdict(item, truth_leg, leg)
    if leg.eligible is not False:
        return f"not eligible in truth, {leg.outcome} in the report"
    wanted = _NOT_ELIGIBLE_REASON.get(str(item.get("scenario")))
    if item.get("direction") == "outbound" and item.get("notes", {}).get("outcome"):
        wanted = "not_answered"
    if wanted is not None and leg.reason != wanted:
        return f"not eligible ({wanted}) in truth, {leg.reason} in the report"
    return None


def _leg_verdict(
    item: dict[str, Any], truth_leg: dict[str, Any], leg: LegCoverage, downtime: Downtime
) -> str | None:
    party = truth_leg.get("party")
    internal = item.get("direction") == "internal"
    if party == "customer":
        return _customer_verdict(item, truth_leg, leg, downtime)
    if party == "worker":
        # An internal call's legs are agents' legs; flexrec names the call internal when it
        # tied the leg to its task (a conference callback, a reservation's leg).
        wanted = ("internal", "agent_leg") if internal else ("agent_leg",)
        if leg.eligible is not False or leg.reason not in wanted:
            return f"an agent's leg in truth, {leg.outcome} ({leg.reason}) in the report"
        return None
    if leg.eligible is True or leg.outcome in RECORDED_OUTCOMES:
        return f"a third party's leg in truth, {leg.outcome} in the report"
    if leg.reason not in ("third_party", "not_seen"):
        return f"a third party's leg in truth, {leg.reason} in the report"
    return None


def compare(
    report: CoverageReport, truth: Iterable[dict[str, Any]], downtime: Downtime | None = None
) -> CoverageCheck:
    """Compare the report with the truth, leg by leg (`downtime`: when the run had the service
    killed; none by default)."""
    downtime = downtime or Downtime()
    check = CoverageCheck()
    by_sid = {leg.call_sid: leg for leg in report.legs}
    known: set[str] = set()
    for item in truth:
        for truth_leg in item.get("legs", []):
            sid = str(truth_leg["call_sid"])
            known.add(sid)
            leg = by_sid.get(sid)
            if leg is None:
                if truth_leg.get("start_time_ms") is not None:
                    check.mismatches.append(f"{sid}: started, but not in the report")
                continue
            check.legs_checked += 1
            problem = _leg_verdict(item, truth_leg, leg, downtime)
            if problem:
                check.mismatches.append(f"{sid} ({item.get('scenario')}): {problem}")
    for sid in sorted(set(by_sid) - known):
        check.mismatches.append(f"{sid}: in the report, unknown to the truth")
    return check


def truth_period(truth: Iterable[dict[str, Any]]) -> Period:
    """A period holding every leg of the simulated day (its clock runs ahead of the wall's)."""
    starts = [
        int(leg["start_time_ms"])
        for item in truth
        for leg in item.get("legs", [])
        if leg.get("start_time_ms") is not None
    ]
    if not starts:
        now = datetime.now(UTC)
        return Period(now, now + timedelta(seconds=1))
    since = datetime.fromtimestamp(min(starts) // 1000, UTC)
    until = datetime.fromtimestamp(max(starts) // 1000 + 1, UTC)
    return Period(since, until)


def sim_coverage(
    sim: SimRunner, database_url: str, downtime: Downtime | None = None
) -> tuple[CoverageReport, CoverageCheck]:
    """Build flexrec's report of the simulated day and compare it with the truth."""
    truth = sim.truth()
    http = PooledHttpClient(sim.base_url, timeout=10)
    client = Client(sim.config.account_sid, sim.config.auth_token, http_client=http)
    gateway = SdkGateway(client, sim.config.account_sid, sim.workspace_sid)
    engine = make_engine(database_url)
    try:
        report = build_report(gateway, make_session_factory(engine), truth_period(truth))
    finally:
        engine.dispose()
        http.close()
    return report, compare(report, truth, downtime)
