"""Scores a demo run: the simulator's ground truth against what the service did. Pure functions."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


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
    faults: str = ""
    # flexrec's own coverage report against the truth, leg by leg (flexrec.demo.coverage_check);
    # None: not compared in this run.
    coverage_agrees: bool | None = None
    coverage_legs_checked: int = 0
    coverage_mismatches: list[str] = field(default_factory=list)
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
            self.recorded == self.eligible
            and self.duplicates == 0
            and self.agent_leg_recordings == 0
            and self.lost_attribute_writes == 0
            and self.media_linked == self.recorded
            and self.coverage_agrees is not False
        )


def score_truth(truth: Iterable[dict[str, Any]]) -> DemoScore:
    """Score the recording service from the simulator's per-interaction ground truth."""
    truth = list(truth)
    score = DemoScore(truth=truth)
    gaps: list[float] = []
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
        recorded = eligible and bool(customer)
        lost = 0
        media_ok = True
        for task in item.get("tasks", []):
            lost += len(task.get("flex_writes_lost", []))
            media = task.get("media", {})
            if recorded:
                linked = bool(media.get("exactly_one")) and bool(media.get("url_is_customer_leg"))
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
        score.eligible += eligible
        score.recorded += recorded
        score.duplicates += max(0, len(customer) - 1)
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
            )
        )
    score.start_gap_ms_p50 = percentile(gaps, 50)
    score.start_gap_ms_max = max(gaps) if gaps else None
    return score


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


def by_scenario(calls: Iterable[CallScore]) -> list[ScenarioRow]:
    """Group per-call verdicts by scenario, in a stable order."""
    rows: dict[str, ScenarioRow] = {}
    for call in calls:
        row = rows.setdefault(call.scenario, ScenarioRow(call.scenario))
        row.calls += 1
        row.eligible += call.eligible
        row.recorded += call.recorded
        row.duplicates += max(0, call.customer_recordings - 1)
        row.agent_legs += call.agent_leg_recordings
        row.media_ok += call.recorded and call.media_ok
        row.lost_writes += call.lost_writes
    return [rows[name] for name in sorted(rows)]
