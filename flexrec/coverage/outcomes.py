"""The coverage report's vocabulary: a leg's outcome, the reasons, and its figures. No I/O.

Outcomes:
- `recorded`: a dual-channel recording covers the leg's talk time (from the moment an agent
  was connected to the end), pauses aside.
- `partly_recorded`: recorded, with unrecorded spans after the start (a recording Twilio ended
  as absent or failed before its replacement began, one another API client stopped while the
  call went on, a late start, flexrec down): each span is listed with its reason.
- `not_recorded`: eligible, and no recording has media.
- `not_eligible`: not a call the policy records (with the reason).
- `not_seen`: Twilio has the leg; flexrec never heard of it (eligibility unknown).
- `in_progress`: the leg (or its recording) has not ended: judged once it has.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal

from flexrec.coverage.outages import Outage

Outcome = Literal[
    "recorded", "partly_recorded", "not_recorded", "not_eligible", "not_seen", "in_progress"
]
OUTCOMES: Final[tuple[Outcome, ...]] = (
    "recorded",
    "partly_recorded",
    "not_recorded",
    "not_eligible",
    "not_seen",
    "in_progress",
)

# Why a leg is not a call to record, or why (part of) an eligible one is not recorded.
REASONS: Final[dict[str, str]] = {
    "policy": "the recording policy excludes it",
    "abandoned": "the caller hung up in the queue before an agent answered",
    "not_answered": "the customer did not answer (busy, no answer, failed, canceled)",
    "internal": "an internal agent-to-agent call (no customer on the line)",
    "agent_leg": "an agent's leg (heard on channel 2 of the customer's recording)",
    "third_party": "a third party added to the call (heard on the customer's recording)",
    "twilio_error": "Twilio ended the recording without media (absent or failed)",
    "stopped": "another API client stopped the recording while the call went on",
    "not_started": "the call ended before a recording was started",
    "service_down": "flexrec was down: no process of it answered Twilio's webhooks",
    "late_start": "the recording began late",
    "uncovered": "no recording ran",
    "not_seen": "flexrec never heard of this leg",
}
ELIGIBLE_OUTCOMES: Final = frozenset({"recorded", "partly_recorded", "not_recorded"})
RECORDED_OUTCOMES: Final = frozenset({"recorded", "partly_recorded"})


@dataclass(frozen=True)
class Span:
    """An unrecorded stretch of an eligible leg's talk time (epoch ms, Twilio's clock)."""

    start_ms: int
    end_ms: int
    reason: str
    detail: str = ""
    recording_sid: str | None = None  # the recording whose end (or failure) began the span

    @property
    def seconds(self) -> float:
        """Its length."""
        return max(0, self.end_ms - self.start_ms) / 1000.0


@dataclass(frozen=True)
class RecordingFacts:
    """One recording on the leg as Twilio lists it, and whether flexrec made or adopted it."""

    sid: str
    status: str
    channels: int | None
    source: str | None
    start_time_ms: int | None
    duration_s: int | None
    error_code: int | None
    by_flexrec: bool


@dataclass
class LegCoverage:
    """One call leg of the period with its outcome and figures."""

    call_sid: str
    started_ms: int | None
    ended_ms: int | None
    status: str
    direction: str | None
    from_: str | None
    to: str | None
    role: str  # customer | agent | third_party | unknown
    task_sid: str | None
    eligible: bool | None  # None: flexrec never saw the leg, so it cannot say
    outcome: Outcome
    reason: str | None = None  # a key of REASONS (None when fully recorded)
    detail: str = ""  # the reason in words, naming the rule, error code or span
    duration_s: int | None = None  # the leg's length (Twilio)
    talk_s: float = 0.0  # from the agent connecting to the end (eligible legs)
    recorded_s: float = 0.0  # talk time a recording covered, pauses excluded
    paused_s: float = 0.0  # paused by an agent (measured on flexrec's clock)
    start_gap_s: float | None = None  # talk start to the first recording's start
    recordings: list[RecordingFacts] = field(default_factory=list)
    unrecorded: list[Span] = field(default_factory=list)
    outages: list[Outage] = field(default_factory=list)  # flexrec down during the talk

    @property
    def recording_sids(self) -> list[str]:
        """Dual-channel recordings with media on the leg."""
        return [
            r.sid
            for r in self.recordings
            if r.channels == 2 and r.status in ("completed", "processing")
        ]

    def as_json(self) -> dict[str, Any]:
        """The leg as the report's JSON."""
        data = asdict(self)
        data["from"] = data.pop("from_")
        data["recording_sids"] = self.recording_sids
        for key in ("talk_s", "recorded_s", "paused_s"):
            data[key] = round(data[key], 1)
        if self.start_gap_s is not None:
            data["start_gap_s"] = round(self.start_gap_s, 1)
        return data
