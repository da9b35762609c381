"""The moves a recording target may make: each transition's sources, destination and the facts
it needs, the SQL condition and values every write of it uses, and the state diagram drawn in
docs/design.md (`diagram()`). The writes themselves are the package's other modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import and_

from flexrec.db.models import RecordingTarget
from flexrec.db.prepared import one_of
from flexrec.recording.states import (
    ENDED_STATES,
    LIVE_STATES,
    NO_MEDIA_STATES,
    TARGET_STATES,
    UNFINISHED_STATES,
    TargetState,
)


@dataclass(frozen=True)
class Transition:
    """One allowed change of a target: from any of `sources` to `dest` (None: state kept)."""

    name: str
    sources: tuple[TargetState, ...]  # () for the row's creation
    dest: TargetState | None
    facts: str  # what the transition needs to know (for the design notes)
    # Only while the leg's call is live (`call_ended_at` unset): the controller's moves out of
    # an ended state. Once the call is over an ended target is final.
    live_call: bool = False


_ANY: Final[tuple[TargetState, ...]] = tuple(sorted(TARGET_STATES))
_OPEN: Final[tuple[TargetState, ...]] = (*UNFINISHED_STATES, *LIVE_STATES)

_CLAIM_HELD: Final[tuple[TargetState, ...]] = ("starting",)
PLANNED = Transition("planned", (), "pending", "policy records the leg: leg, call, task")
CLAIMED = Transition(
    "claimed",
    ("pending", "starting"),
    "starting",
    "a claim token and owner; pending and due, or starting with a stale claim",
)
STARTED = Transition(
    "started", _CLAIM_HELD, "recording", "our claim; the recording created or adopted"
)
STARTED_PAUSED = Transition(
    "started_paused", _CLAIM_HELD, "paused", "our claim; an adopted recording Twilio reports paused"
)
RETRY_DUE = Transition(
    "retry_due", _CLAIM_HELD, "pending", "our claim; a retryable error, the next attempt's time"
)
START_REFUSED = Transition(
    "start_refused", _CLAIM_HELD, "failed", "our claim; Twilio refused the create (4xx)"
)
CALL_OVER_AT_START = Transition(
    "call_over_at_start", _CLAIM_HELD, "ended", "our claim; 21220 and the call is over"
)
REAPED = Transition("reaped", ("starting",), "pending", "the claim's owner process is gone")
CALL_OVER = Transition(
    "call_over", ("pending",), "ended", "a terminal call status before any start"
)
REPORTED_RUNNING = Transition(
    "reported_running", UNFINISHED_STATES, "recording", "an in-progress callback of its recording"
)
REPORTED_COMPLETED = Transition(
    "reported_completed", _OPEN, "completed", "a completed callback of its recording"
)
REPORTED_ABSENT = Transition(
    "reported_absent", _OPEN, "absent", "an absent callback of its recording"
)
REPORTED_FAILED = Transition(
    "reported_failed", _OPEN, "failed", "a failed callback of its recording"
)
PAUSED = Transition("paused", LIVE_STATES, "paused", "Twilio accepted a pause")
RESUMED = Transition("resumed", LIVE_STATES, "recording", "Twilio accepted a resume")
CALL_OVER_LIVE = Transition("call_over_live", LIVE_STATES, "ended", "21220 on a pause or resume")
# Bookkeeping: the state stays.
PAUSE_WISHED = Transition(
    "pause_wished", UNFINISHED_STATES, None, "a pause or resume asked before the recording exists"
)
WISH_CLEARED = Transition("wish_cleared", _ANY, None, "the wish applied, or the work over")
IDENTIFIED = Transition(
    "identified", _ANY, None, "the SID of its recording, for a target that had none"
)
TOUCHED = Transition("touched", _ANY, None, "a refresh found the recording still running")
# The controller, while the call is live (issue 17): nothing is final before the call ends.
REPLACED = Transition(
    "replaced",
    NO_MEDIA_STATES,
    "pending",
    "the call is live and fewer replacements ran than the cap; the next start's due time",
    live_call=True,
)
STOPPED_BY_OTHER = Transition(
    "stopped_by_other",
    ("completed",),
    "stopped",
    "the call was live when its recording completed: another API client stopped it",
    live_call=True,
)
READOPTED = Transition(
    "readopted",
    ("stopped",),
    "recording",
    "the call is live and a dual call recording runs on it again (whoever stopped it restarted)",
    live_call=True,
)
REPLACEMENT_WISHED = Transition(
    "replacement_wished",
    NO_MEDIA_STATES,
    None,
    "a pause or resume asked while its recording, ended without media, awaits its replacement: "
    "a pause holds the replacement, a resume frees it",
    live_call=True,
)
GAVE_UP = Transition(
    "gave_up",
    NO_MEDIA_STATES,
    None,
    "the replacement cap reached while the call is live",
    live_call=True,
)
LEG_OVER = Transition(
    "leg_over", _ANY, None, "the call ended (a status callback, or Twilio's answer)"
)

TRANSITIONS: Final[tuple[Transition, ...]] = (
    PLANNED, CLAIMED, STARTED, STARTED_PAUSED, RETRY_DUE, START_REFUSED, CALL_OVER_AT_START,
    REAPED, CALL_OVER, REPORTED_RUNNING, REPORTED_COMPLETED, REPORTED_ABSENT, REPORTED_FAILED,
    PAUSED, RESUMED, CALL_OVER_LIVE, PAUSE_WISHED, WISH_CLEARED, IDENTIFIED, TOUCHED,
    REPLACED, STOPPED_BY_OTHER, READOPTED, REPLACEMENT_WISHED, GAVE_UP, LEG_OVER,
)  # fmt: skip
REPORTED: Final = {
    "completed": REPORTED_COMPLETED,
    "absent": REPORTED_ABSENT,
    "failed": REPORTED_FAILED,
}


def allowed(transition: Transition, state: str) -> bool:
    """Whether `transition` may leave `state`."""
    return state in transition.sources


def diagram() -> str:
    """The state diagram (Mermaid) and the transition table, as docs/design.md holds them."""
    lines = ["```mermaid", "stateDiagram-v2"]
    lines.append(f"    [*] --> {PLANNED.dest}: {PLANNED.name}")
    edges: dict[tuple[str, str], list[str]] = {}
    for t in TRANSITIONS:
        if t.dest is None or not t.sources:
            continue
        for source in t.sources:
            if source != t.dest or t is CLAIMED:
                edges.setdefault((source, t.dest), []).append(t.name)
    lines += [f"    {a} --> {b}: {' / '.join(names)}" for (a, b), names in edges.items()]
    lines += [f"    {state} --> [*]: call over" for state in ENDED_STATES]
    lines += ["```", "", "| transition | from | to | facts it needs |", "|---|---|---|---|"]
    for t in TRANSITIONS:
        sources = ", ".join(t.sources) if t.sources else "(new row)"
        if t.sources == _ANY:
            sources = "any"
        facts = f"{t.facts} (only while the call is live)" if t.live_call else t.facts
        lines.append(f"| `{t.name}` | {sources} | {t.dest or '(unchanged)'} | {facts} |")
    return "\n".join(lines) + "\n"


def leaving(transition: Transition) -> Any:
    """The SQL condition of leaving one of `transition`'s sources (and, for the controller's
    moves, of the call being live as far as we know)."""
    condition = one_of(RecordingTarget.state, transition.sources)  # prepared statements too
    if transition.live_call:
        return and_(condition, RecordingTarget.call_ended_at.is_(None))
    return condition


def arriving(transition: Transition) -> dict[str, Any]:
    """The values a write following `transition` sets (its destination state, if any)."""
    return {} if transition.dest is None else {"state": transition.dest}
