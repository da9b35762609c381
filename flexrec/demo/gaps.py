"""Where a kept demo run's unrecorded seconds went: each start gap and each replacement gap of a
customer leg, cut into what filled it. Pure functions over what `flexrec demo --workdir` keeps.

A gap runs from the moment the leg should have been recorded (the agent joined; a recording
ended without media while the call was live) to the next recording's start, in simulated time.
The service log (real time, converted with the run's clock anchor and scale) and the
simulator's webhook log name what happened inside it; each stretch between two of those
moments is charged to what ended it:

- `down`: the service was killed and not back yet (the demo's `--restart`);
- `event`: waiting for Twilio to say something (until the webhook that set the work off
  arrived), or for reconcile to find what a lost or early webhook did not say;
- `failed_try`: a Twilio request answered with an error (429/5xx, or a timeout), with the
  short pause before the next try inside the attempt;
- `backoff`: the delay a failed attempt scheduled before the next one (`delay_s`);
- `scheduling`: the rest of the time between attempts (a queue poll, a busy thread pool);
- `settle`: finding out whether the call was still live after a recording ended early;
- `replacement_delay`: the pause before a second or later replacement (the cap's backoff);
- `held_for_pause`: a recording ended without media while the agent had it paused: its
  replacement waits for the resume (a pause is never undone);
- `leg_search`: looking for the customer's leg in the task's conference;
- `round_trip`: the successful create (the last stretch, until Twilio started the recording).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

# The agent's resume as the service logged it (agent_request_done, action resume): of a
# recording that ended while paused, the replacement waits for it.
AGENT_RESUMED = "agent resumed"
# What each service log line ends: the stretch before it is charged to this.
LINE_CAUSES = {
    "recording start blip": "failed_try",
    "recording start retry": "failed_try",
    "call status blip": "failed_try",
    "call status unknown, settling later": "failed_try",
    "leg search failed": "failed_try",
    "customer leg found": "leg_search",
    "recording ended without media mid-call; replacing it": "settle",
    # The agent's resume ends a replacement held for the pause.
    "recording resumed": "held_for_pause",
    "pause wish withdrawn": "held_for_pause",
    AGENT_RESUMED: "held_for_pause",
}
CAUSES = (
    "down",
    "event",
    "failed_try",
    "backoff",
    "scheduling",
    "settle",
    "replacement_delay",
    "held_for_pause",
    "leg_search",
    "round_trip",
    "other",
)


@dataclass(frozen=True)
class Clock:
    """The run's simulated clock against real time."""

    wall_s: float  # a real moment (epoch seconds) ...
    sim_ms: int  # ... and the simulated epoch ms it was
    scale: float  # simulated seconds per real second

    def to_sim_ms(self, wall_s: float) -> float:
        """The simulated time of a real moment."""
        return self.sim_ms + (wall_s - self.wall_s) * self.scale * 1000.0


@dataclass(frozen=True)
class Moment:
    """Something the logs say happened, in simulated ms, and what the stretch before it was."""

    at_ms: float
    cause: str
    what: str
    # A wait this moment began (real seconds; inf: until the next moment), and its cause.
    after_s: float = 0.0
    after_cause: str = "backoff"


@dataclass
class Gap:
    """One unrecorded stretch of a customer leg and what filled it (simulated seconds)."""

    kind: str  # start | replacement
    call_sid: str
    scenario: str
    start_ms: int
    end_ms: int
    parts: dict[str, float] = field(default_factory=dict)
    moments: list[str] = field(default_factory=list)  # the timeline, for a closer look

    @property
    def seconds(self) -> float:
        """The gap's length in simulated seconds."""
        return (self.end_ms - self.start_ms) / 1000.0


@dataclass
class RunLogs:
    """What a kept demo run left in its work folder."""

    truth: list[dict[str, Any]]
    lines: list[dict[str, Any]]  # the service's JSON log lines
    deliveries: list[dict[str, Any]]  # the simulator's webhook log
    clock: Clock
    downtime_ms: list[tuple[int, int]]
    # The agents' pause and resume requests per task (runs kept before they were: none).
    asked: dict[str, list[tuple[str, float]]] = field(default_factory=dict)

    @classmethod
    def load(cls, workdir: Path) -> RunLogs:
        """Read truth.json, run.json, webhooks.json and service.log from `workdir`."""
        run = json.loads((workdir / "run.json").read_text())
        anchor = run["anchor"]
        clock = Clock(float(anchor["wall_s"]), int(anchor["sim_ms"]), float(run["scale"]))
        lines = []
        for raw in (workdir / "service.log").read_text().splitlines():
            if raw.startswith("{"):
                try:
                    lines.append(json.loads(raw))
                except ValueError:
                    continue
        return cls(
            truth=json.loads((workdir / "truth.json").read_text()),
            lines=lines,
            deliveries=json.loads((workdir / "webhooks.json").read_text()),
            clock=clock,
            downtime_ms=[(int(a), int(b)) for a, b in run.get("downtime_ms", [])],
            asked={
                task: [(str(action), float(at)) for action, at in requests]
                for task, requests in (run.get("asked") or {}).items()
            },
        )


def _wall(line: dict[str, Any]) -> float | None:
    stamp = line.get("timestamp")
    if not isinstance(stamp, str):
        return None
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def leg_moments(logs: RunLogs, call_sid: str, task_sids: Iterable[str]) -> list[Moment]:
    """Every moment the service log and the webhook log name for one leg, oldest first."""
    tasks = set(task_sids)
    targets = {
        line["target_id"]
        for line in logs.lines
        if line.get("call_sid") == call_sid and line.get("target_id") is not None
    }
    moments: list[Moment] = []
    delivery_ids: set[str] = set()
    for line in logs.lines:
        event = str(line.get("event"))
        if event == "agent_request_done" and line.get("action") == "resume":
            event = AGENT_RESUMED
        mine = (
            line.get("call_sid") == call_sid
            or (line.get("target_id") in targets and line.get("target_id") is not None)
            or (line.get("task_sid") in tasks and event in LINE_CAUSES)
        )
        wall = _wall(line)
        if not mine or wall is None:
            continue
        if line.get("delivery_id"):
            delivery_ids.add(str(line["delivery_id"]))
        after_s, after_cause = 0.0, "backoff"
        if event == "recording start retry":
            after_s = float(line.get("delay_s") or 0.0)
        elif event == "recording ended without media mid-call; replacing it":
            after_s, after_cause = float(line.get("delay_s") or 0.0), "replacement_delay"
            if line.get("held_for_pause"):  # a pause is never undone: it waits for the resume
                after_s, after_cause = math.inf, "held_for_pause"
        cause = LINE_CAUSES.get(event, "other")
        at_ms = logs.clock.to_sim_ms(wall)
        moments.append(Moment(at_ms, cause, event, after_s, after_cause))
    for delivery in logs.deliveries:
        if delivery.get("id") not in delivery_ids:
            continue
        # The service acted on this delivery: it began when the simulator started sending it.
        began = float(delivery["at"]) - float(delivery.get("elapsed_ms") or 0.0) / 1000.0
        what = f"webhook {delivery.get('name')} ({delivery.get('attempts')} tries)"
        moments.append(Moment(logs.clock.to_sim_ms(began), "event", what))
    moments.sort(key=lambda m: m.at_ms)
    return moments


def cut_gap(
    gap: Gap, moments: Sequence[Moment], downtime_ms: Sequence[tuple[int, int]], scale: float
) -> Gap:
    """Charge each stretch of `gap` to what ended it (see the module docstring); `scale`
    turns a real delay the service scheduled into simulated time."""
    inside = [m for m in moments if gap.start_ms < m.at_ms < gap.end_ms]
    cursor = float(gap.start_ms)
    pending_backoff = 0.0
    pending_cause = "backoff"
    stretches: list[tuple[float, float, str]] = []
    for index, moment in enumerate(inside):
        cause = moment.cause
        if index == 0 and cause in ("other", "failed_try", "settle", "leg_search"):
            # The first thing the service did on this leg: until the event that told it (or
            # the reconcile that found it), it could not know.
            first_event = "event" if moment.cause == "other" else cause
            cause = first_event
        if math.isinf(pending_backoff) and cause != "held_for_pause":
            # Held for the agent's pause: whatever happens meanwhile (a link written, a try
            # on another leg) waits with it, until the resume.
            gap.moments.append(f"{(moment.at_ms - gap.start_ms) / 1000:7.2f}s {moment.what}")
            continue
        if pending_backoff > 0:
            wait_end = min(moment.at_ms, cursor + pending_backoff * 1000.0 * scale)
            stretches.append((cursor, wait_end, pending_cause))
            cursor, pending_backoff = wait_end, 0.0
            cause = "scheduling" if cause == "other" else cause
        stretches.append((cursor, moment.at_ms, cause))
        cursor = moment.at_ms
        if moment.after_s:
            pending_backoff, pending_cause = moment.after_s, moment.after_cause
        gap.moments.append(f"{(moment.at_ms - gap.start_ms) / 1000:7.2f}s {moment.what}")
    if pending_backoff > 0:
        wait_end = min(float(gap.end_ms), cursor + pending_backoff * 1000.0 * scale)
        stretches.append((cursor, wait_end, pending_cause))
        cursor = wait_end
    stretches.append((cursor, float(gap.end_ms), "round_trip" if inside else "event"))
    for start, end, cause in stretches:
        if end <= start:
            continue
        down = sum(_overlap((start, end), (float(a), float(b))) for a, b in downtime_ms)
        gap.parts["down"] = gap.parts.get("down", 0.0) + down / 1000.0
        gap.parts[cause] = gap.parts.get(cause, 0.0) + (end - start - down) / 1000.0
    gap.parts = {k: round(v, 2) for k, v in gap.parts.items() if v > 0.005}
    return gap


def gaps_of(logs: RunLogs) -> list[Gap]:
    """Every start gap and replacement gap of the run's eligible customer legs, cut."""
    found: list[Gap] = []
    for item in logs.truth:
        mine: list[Gap] = []
        if not item.get("eligible"):
            continue
        window = item.get("expected_window") or {}
        legs = [
            r
            for r in item.get("recordings", [])
            if not r.get("conference_sid") and r.get("party") == "customer"
        ]
        dual = sorted(
            (r for r in legs if r.get("channels") == 2), key=lambda r: r.get("start_time_ms") or 0
        )
        tasks = [str(t.get("task_sid")) for t in item.get("tasks", [])]
        scenario = str(item.get("scenario"))
        call_sid = str(item.get("customer_call_sid") or item.get("interaction_id"))
        start, end = window.get("start_ms"), window.get("end_ms")
        if start is not None and end is not None and scenario != "studio_recorded":
            first = int(dual[0]["start_time_ms"]) if dual else int(end)
            if first > int(start):
                mine.append(Gap("start", call_sid, scenario, int(start), min(first, int(end))))
        for fault in item.get("faults", []):
            if fault.get("party") != "customer" or fault.get("kind") not in (
                "recording_absent",
                "recording_failed",
            ):
                continue
            at = int(fault["at_ms"])
            following = fault.get("next_recording")
            until = at + int(following["gap_ms"]) if following else end
            if until is not None and int(until) > at:
                leg = str(fault.get("call_sid") or call_sid)
                mine.append(Gap("replacement", leg, scenario, at, int(until)))
        for gap in mine:
            moments = leg_moments(logs, gap.call_sid, tasks)
            found.append(cut_gap(gap, moments, logs.downtime_ms, logs.clock.scale))
    return found


def totals(gaps: Iterable[Gap]) -> dict[str, float]:
    """Simulated seconds per cause over `gaps`, in `CAUSES` order."""
    summed: dict[str, float] = {}
    for gap in gaps:
        for cause, seconds in gap.parts.items():
            summed[cause] = summed.get(cause, 0.0) + seconds
    return {cause: round(summed[cause], 1) for cause in CAUSES if cause in summed}
