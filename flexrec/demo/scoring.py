"""Scores a demo run: the simulator's ground truth against what the service did. Pure functions."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from flexrec.coverage.classify import START_BUDGET_MS
from flexrec.demo.early_ends import EarlyEnds, Notices

NO_MEDIA = ("absent", "failed")  # how Twilio ends a recording it kept no media of


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(pct / 100 * len(ordered))))
    return float(ordered[rank - 1])


@dataclass
class CallScore:
    """One interaction's verdict, for the per-scenario table."""

    interaction_id: str
    scenario: str
    direction: str
    eligible: bool
    recorded: bool
    customer_recordings: int
    agent_leg_recordings: int
    media_ok: bool
    lost_writes: int
    start_gap_ms: int | None
    overlaps: int = 0  # customer-leg recordings running while another one already ran
    # Eligible, unrecorded, and the service was killed for all but less than the start budget
    # of its talk (`--restart`): no server that is down can record it.
    unrecordable_while_down: bool = False


@dataclass
class DemoScore:
    """The run's figures; `as_json()` is the demo's `--json` line."""

    calls: int = 0
    eligible: int = 0
    recorded: int = 0
    duplicates: int = 0
    agent_leg_recordings: int = 0
    ineligible_recorded: int = 0
    lost_attribute_writes: int = 0
    media_linked: int = 0
    start_gap_ms_p50: float | None = None
    start_gap_ms_max: float | None = None
    webhook_to_api_ms_p50: float | None = None
    webhook_to_api_ms_p99: float | None = None
    pauses_requested: int = 0
    pauses_applied: int = 0
    pause_answers: dict[str, int] = field(default_factory=dict)  # last HTTP status per request
    archived: int = 0
    analysed: int = 0
    analysis_mono: int = 0  # mono recordings: talk and silence only (who spoke needs two)
    analysis_failed: int = 0
    archive_failed: int = 0
    settle_s: float | None = None  # real seconds from the last call to archive+analysis done
    settled: bool = True  # False: the settle wait ran out of time
    # Mono recordings flexrec did not make whose completed callback never reached it.
    mono_unreported: int = 0
    vad_precision: float | None = None
    vad_recall: float | None = None
    # Spoken card data (`--card-data`, flexrec.demo.card_data); None: not checked in this run.
    card_data: dict[str, Any] | None = None
    restarts: int = 0
    # Eligible calls left unrecorded that the demo's kill left the service answering for less
    # than the start budget of their talk (coverage names them `service_down`): a call that
    # starts and ends inside the outage cannot be recorded by a server that is down.
    unrecordable_while_down: int = 0
    faults: str = ""
    # flexrec's own coverage report against the truth, leg by leg (flexrec.demo.coverage_check);
    # None: not compared in this run.
    coverage_agrees: bool | None = None
    coverage_legs_checked: int = 0
    coverage_mismatches: list[str] = field(default_factory=list)
    # Nothing final while the call is live (issue 17): eligible talk time covered by a
    # recording (pauses excluded; start gaps, replacement gaps and deliberate stops count as
    # unrecorded), the share of recorded calls whose tasks link every recording with media at
    # the end, and the longest wait from a recording ending absent/failed mid-call to the next.
    talk_time_recorded_pct: float | None = None
    # The same outside the spans the demo had the service killed (--restart): a restart of a
    # few real seconds is tens of seconds of the compressed day's calls.
    talk_time_recorded_pct_while_up: float | None = None
    links_present_at_end: float | None = None
    # The longest wait for a replacement, judged by issue 17's rule: from flexrec learning of
    # the early end (its callback's first try, or the service back from a kill), the agent's
    # pauses and the kills left out (flexrec.demo.early_ends); `_raw` counts from the end itself.
    replacement_gap_s_max: float | None = None
    replacement_gap_s_max_raw: float | None = None
    replacements: int = 0  # early ends (absent/failed) followed by a new recording
    deliberate_stops: int = 0  # recordings another client stopped mid-call
    stops_undone: int = 0  # deliberate stops followed by a new recording: must stay 0
    # Calls per account variant that applied to them: {axis: {value: calls}} (flexsim.variants).
    variants: dict[str, dict[str, int]] = field(default_factory=dict)
    per_call: list[CallScore] = field(default_factory=list)
    # The simulator's ground truth the figures came from (for tests and closer looks).
    truth: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def as_json(self) -> dict[str, Any]:
        """The figures without the per-call detail."""
        data = asdict(self)
        data.pop("per_call")
        data.pop("truth")
        return data

    @property
    def ok(self) -> bool:
        """Whether the run met the product's promises."""
        return (
            self.recorded + self.unrecordable_while_down == self.eligible
            and self.duplicates == 0
            and self.agent_leg_recordings == 0
            and self.lost_attribute_writes == 0
            and self.media_linked == self.recorded
            and self.coverage_agrees is not False
            and self.stops_undone == 0
            and (self.replacement_gap_s_max is None or self.replacement_gap_s_max <= 10.0)
        )


def score_truth(
    truth: Iterable[dict[str, Any]],
    downtime: Sequence[tuple[int, int]] = (),
    notices: Notices | None = None,
) -> DemoScore:
    """Score the recording service from the simulator's per-interaction ground truth.

    `downtime`: the (simulated ms) spans the demo had the service killed; `notices`: when the
    service heard of each early end and when the agents wanted calls paused (without them a
    replacement gap counts from the early end, or from the service's return when it fell in a
    kill)."""
    truth = list(truth)
    score = DemoScore(truth=truth)
    gaps: list[float] = []
    talk = _TalkTime()
    talk_up = _TalkTime(down=_union(downtime))
    early_ends = EarlyEnds()
    notices = notices or Notices()
    for item in truth:
        score.calls += 1
        for axis, value in (item.get("variants") or {}).items():
            counts = score.variants.setdefault(str(axis), {})
            counts[str(value)] = counts.get(str(value), 0) + 1
        recordings = item.get("recordings", [])
        # Call recordings only: Flex's own conference recording is not a leg's recording even
        # when its call_sid names the leg (the simulator lists it apart; older truth did not).
        legs = [r for r in recordings if not r.get("conference_sid")]
        customer = [r for r in legs if r.get("party") == "customer" and r.get("channels") == 2]
        agent_legs = [r for r in legs if r.get("party") == "worker"]
        eligible = bool(item.get("eligible"))
        # Recorded means media kept: a leg whose every recording Twilio ended absent or failed
        # (the fault plan's early ends, a kept pause that lost its replacement) is not.
        recorded = eligible and any(r.get("status") not in NO_MEDIA for r in customer)
        lost = 0
        media_ok = True
        for task in item.get("tasks", []):
            lost += len(task.get("flex_writes_lost", []))
            media = task.get("media", {})
            if recorded:
                linked = bool(media.get("linked")) if "linked" in media else (
                    bool(media.get("exactly_one")) and bool(media.get("url_is_customer_leg"))
                )  # fmt: skip
                if not linked:
                    media_ok = False
                    lost += 1
        if not item.get("tasks") and recorded:
            media_ok = False
        gap = None
        # A Studio flow started its recording before the agent joined: nothing to measure.
        if recorded and item.get("scenario") != "studio_recorded":
            first = min(customer, key=lambda r: r.get("start_time_ms") or 0)
            gap = first.get("start_gap_ms")
            if gap is not None:
                # Audio missed at the start; a recording that began early missed nothing.
                gaps.append(max(0.0, float(gap)))
        if eligible:
            talk.add(item.get("expected_window") or {}, customer)
            talk_up.add(item.get("expected_window") or {}, customer)
        early_ends.add_call(item, downtime, notices)
        overlaps = _overlaps(customer)
        while_down = eligible and not recorded and _down_for_its_talk(item, talk_up.down)
        score.eligible += eligible
        score.recorded += recorded
        score.unrecordable_while_down += while_down
        score.duplicates += overlaps
        score.agent_leg_recordings += len(agent_legs)
        score.ineligible_recorded += (not eligible) and bool(customer)
        score.lost_attribute_writes += lost
        score.media_linked += recorded and media_ok
        score.pauses_applied += sum(len(r.get("pauses", [])) for r in customer)
        score.per_call.append(
            CallScore(
                interaction_id=str(item.get("interaction_id")),
                scenario=str(item.get("scenario")),
                direction=str(item.get("direction")),
                eligible=eligible,
                recorded=recorded,
                customer_recordings=len(customer),
                agent_leg_recordings=len(agent_legs),
                media_ok=media_ok,
                lost_writes=lost,
                start_gap_ms=gap,
                overlaps=overlaps,
                unrecordable_while_down=while_down,
            )
        )
    score.start_gap_ms_p50 = percentile(gaps, 50)
    score.start_gap_ms_max = max(gaps) if gaps else None
    score.talk_time_recorded_pct = talk.pct()
    score.talk_time_recorded_pct_while_up = talk_up.pct() if downtime else talk.pct()
    if score.recorded:
        score.links_present_at_end = round(100.0 * score.media_linked / score.recorded, 2)
    score.replacement_gap_s_max = max(early_ends.gaps_s, default=None)
    score.replacement_gap_s_max_raw = max(early_ends.raw_gaps_s, default=None)
    score.replacements = early_ends.replacements
    score.deliberate_stops = early_ends.deliberate_stops
    score.stops_undone = early_ends.stops_undone
    return score


Span = tuple[int, int]


def _down_for_its_talk(item: dict[str, Any], down: list[Span]) -> bool:
    """Whether the service was down during the call's talk and answering for less than the
    start budget of it (the rule the coverage report names `service_down` by)."""
    window = item.get("expected_window") or {}
    start, end = window.get("start_ms"), window.get("end_ms")
    if start is None or end is None:
        return False
    span = (int(start), int(end))
    down_ms = _within(down, span)
    return down_ms > 0 and span[1] - span[0] - down_ms < START_BUDGET_MS


def _union(spans: Iterable[Span]) -> list[Span]:
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        elif end > start:
            merged.append((start, end))
    return merged


def _without(window: Span, holes: list[Span]) -> list[Span]:
    """`window` less the (disjoint, sorted) `holes`."""
    parts, cursor = [], window[0]
    for start, end in holes:
        if end <= cursor or start >= window[1]:
            continue
        if start > cursor:
            parts.append((cursor, start))
        cursor = max(cursor, end)
    if cursor < window[1]:
        parts.append((cursor, window[1]))
    return parts


def _within(spans: Iterable[Span], window: Span) -> int:
    """Milliseconds of the (disjoint) `spans` inside `window`."""
    return sum(max(0, min(end, window[1]) - max(start, window[0])) for start, end in spans)


@dataclass
class _TalkTime:
    """Eligible talk time and the part of it a recording covered (both in ms)."""

    eligible_ms: int = 0
    recorded_ms: int = 0
    known: bool = False
    down: list[Span] = field(default_factory=list)  # spans left out of both

    def add(self, window: dict[str, Any], customer: list[dict[str, Any]]) -> None:
        start, end = window.get("start_ms"), window.get("end_ms")
        if start is None or end is None or end <= start:
            return
        if any("recorded_spans" not in r for r in customer):
            return  # older truth: not measurable
        span = (int(start), int(end))
        paused = _union(
            (int(p["start_ms"]), int(p.get("end_ms") or end))
            for r in customer
            for p in r.get("pauses", [])
            if p.get("start_ms") is not None
        )
        recorded = _union((int(a), int(b)) for r in customer for a, b in r["recorded_spans"])
        self.known = True
        for part in _without(span, self.down):
            self.eligible_ms += (part[1] - part[0]) - _within(paused, part)
            self.recorded_ms += _within(recorded, part)

    def pct(self) -> float | None:
        if not self.known or self.eligible_ms <= 0:
            return None
        return round(100.0 * min(self.recorded_ms, self.eligible_ms) / self.eligible_ms, 2)


def _overlaps(customer: list[dict[str, Any]]) -> int:
    """Recordings of the customer leg that started while another one was still running
    (never two at once on one leg; one after another is a replacement, not a duplicate)."""
    count, running_until = 0, -math.inf
    for r in sorted(customer, key=lambda r: r.get("start_time_ms") or 0):
        start = float(r.get("start_time_ms") or 0)
        count += start < running_until
        end = r.get("end_time_ms")
        running_until = max(running_until, math.inf if end is None else float(end))
    return count


@dataclass
class ScenarioRow:
    """One line of the demo's table."""

    scenario: str
    calls: int = 0
    eligible: int = 0
    recorded: int = 0
    duplicates: int = 0
    agent_legs: int = 0
    media_ok: int = 0
    lost_writes: int = 0
    while_down: int = 0  # eligible, and the whole talk (but the start budget) inside a kill


def by_scenario(calls: Iterable[CallScore]) -> list[ScenarioRow]:
    """Group per-call verdicts by scenario, in a stable order."""
    rows: dict[str, ScenarioRow] = {}
    for call in calls:
        row = rows.setdefault(call.scenario, ScenarioRow(call.scenario))
        row.calls += 1
        row.eligible += call.eligible
        row.recorded += call.recorded
        row.duplicates += call.overlaps
        row.agent_legs += call.agent_leg_recordings
        row.media_ok += call.recorded and call.media_ok
        row.lost_writes += call.lost_writes
        row.while_down += call.unrecordable_while_down
    return [rows[name] for name in sorted(rows)]
