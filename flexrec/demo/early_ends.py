"""Recordings Twilio ended early on a live customer leg, scored by issue 17's rule. Pure.

An `absent` or `failed` recording must be followed by a new one within 10 s of flexrec
learning of the end. flexrec learns of it from the recording status callback, at the callback's
first try (`Notices.end_heard_ms`; a try it answered with an error, or too slowly, counts as
heard), or when it came back from a kill, whichever is later. A callback that never arrived
gives flexrec nothing to learn from but its own reconcile: the gap then counts from the end.
While the agent wants the call paused, the replacement waits for the resume (a pause is never
undone), and while the service is killed nothing can start it (a soak kills it again and
again; the restart is measured on its own, bench/restart.py): neither is part of the gap.
`raw` gaps count from the end itself, pauses, kills and late callbacks included: the
unrecorded time a listener would notice.
A recording another client stopped (`completed` mid-call) must not be followed by one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

NO_MEDIA_ENDS = ("recording_absent", "recording_failed")
Span = tuple[int, int]


@dataclass(frozen=True)
class Notices:
    """What the service was told and asked during a run, for judging its replacements."""

    # Recording SID → simulated epoch ms of the first try of its absent/failed status callback.
    end_heard_ms: Mapping[str, int] = field(default_factory=dict)
    # Task SID → the agent's requests, in order: (action "pause"/"resume", simulated epoch s).
    asked: Mapping[str, Sequence[tuple[str, float]]] = field(default_factory=dict)

    @classmethod
    def of_run(
        cls,
        deliveries: Iterable[Mapping[str, Any]],
        asked: Mapping[str, Sequence[tuple[str, float]]],
    ) -> Notices:
        """From the simulator's webhook log and the agents' requests."""
        heard: dict[str, int] = {}
        for delivery in deliveries:
            sid, first = delivery.get("subject_sid"), delivery.get("first_try_ms")
            if (
                delivery.get("kind") != "recording-status"
                or delivery.get("name") not in ("absent", "failed")
                or not sid
                or first is None
            ):
                continue
            heard[str(sid)] = min(int(first), heard.get(str(sid), int(first)))
        return cls(heard, asked)

    def pause_wanted(self, task_sids: Iterable[str], end_ms: int) -> list[Span]:
        """When the agent wanted the call paused (simulated ms): from each pause asked to the
        next resume asked, or `end_ms` (the hang-up)."""
        requests = sorted(
            (when * 1000.0, action)
            for task in task_sids
            for action, when in self.asked.get(task, ())
        )
        spans: list[Span] = []
        paused_at: float | None = None
        for when, action in requests:
            if action == "pause" and paused_at is None:
                paused_at = when
            elif action == "resume" and paused_at is not None:
                spans.append((int(paused_at), int(when)))
                paused_at = None
        if paused_at is not None:
            spans.append((int(paused_at), end_ms))
        return spans


@dataclass
class EarlyEnds:
    """The early ends of a run: replacements, their gaps (seconds) and deliberate stops."""

    replacements: int = 0
    gaps_s: list[float] = field(default_factory=list)  # from learning of it, pauses, kills out
    raw_gaps_s: list[float] = field(default_factory=list)  # from the end itself
    deliberate_stops: int = 0
    stops_undone: int = 0

    def add_call(self, item: Mapping[str, Any], downtime: Sequence[Span], notices: Notices) -> None:
        """Score one interaction of the simulator's truth."""
        window_end = (item.get("expected_window") or {}).get("end_ms")
        tasks = [str(t.get("task_sid")) for t in item.get("tasks", [])]
        for fault in item.get("faults", []):
            if fault.get("party") != "customer":
                continue
            following = fault.get("next_recording")
            if fault.get("kind") == "recording_stopped":
                self.deliberate_stops += 1
                self.stops_undone += following is not None
                continue
            at_ms = fault.get("at_ms")
            if fault.get("kind") not in NO_MEDIA_ENDS or at_ms is None:
                continue
            if following is not None:
                self.replacements += 1
                next_ms = int(at_ms) + int(following["gap_ms"])
            elif window_end is not None:
                next_ms = int(window_end)  # never replaced: the rest of the call is the gap
            else:
                continue
            learnt = learnt_ms(
                int(at_ms), notices.end_heard_ms.get(str(fault.get("recording_sid"))), downtime
            )
            paused = notices.pause_wanted(tasks, next_ms)
            held = _within([*paused, *downtime], (learnt, next_ms))
            self.raw_gaps_s.append(max(0.0, (next_ms - int(at_ms)) / 1000.0))
            self.gaps_s.append(max(0.0, (next_ms - learnt - held) / 1000.0))


def learnt_ms(at_ms: int, heard_ms: int | None, downtime: Sequence[Span]) -> int:
    """When flexrec could first know of an early end at `at_ms`: its callback's first try
    (`heard_ms`; the end itself when no callback came), or the end of a kill it fell in."""
    learnt = at_ms if heard_ms is None else max(at_ms, heard_ms)
    for down, up in sorted(downtime):
        if down <= learnt <= up:
            learnt = up
    return learnt


def _within(spans: Iterable[Span], window: Span) -> int:
    """Milliseconds of `spans` (merged first) inside `window`."""
    total, cursor = 0, window[0]
    for start, end in sorted(spans):
        start, end = max(start, cursor), min(end, window[1])
        if end > start:
            total += end - start
            cursor = end
    return total
