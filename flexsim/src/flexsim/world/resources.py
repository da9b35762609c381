"""The simulated account's resources as plain data: calls, recordings, conferences, tasks,
workers and the rest, with the clock and the SID factory. `flexsim.world.World` holds them and
performs Twilio's state transitions on them.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

# Runs a callback after simulated seconds on the thread that owns the world (Engine.call_later).
Scheduler = Callable[[float, Callable[[], None]], object]

TERMINAL_CALL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})

Party = Literal["customer", "worker", "third"]

# The activities a Flex workspace starts with, and whether each makes a worker available.
DEFAULT_ACTIVITIES = {"Offline": False, "Available": True, "Unavailable": False, "Break": False}

# Why a recording ended (`Recording.end_reason`): its leg hung up, its conference ended, a REST
# client stopped or deleted it, or interference (flexsim.interference) ended it early while the
# call went on: silent (`absent`), not stored (`failed`), or stopped by another API client.
EndReason = Literal[
    "call-ended",
    "conference-ended",
    "stopped",
    "deleted",
    "early-absent",
    "early-failed",
    "stopped-by-other-client",
]
EARLY_END_REASONS: frozenset[str] = frozenset(
    {"early-absent", "early-failed", "stopped-by-other-client"}
)
# Statuses of a recording that holds no media: nothing was stored.
NO_MEDIA_STATUSES = frozenset({"absent", "failed"})


class SidFactory:
    """Makes Twilio-shaped SIDs: the n-th one is the seed's n-th draw XOR `salt`, so one seed
    and salt reproduce every SID, and a fresh salt per run (SimRunner's) keeps two runs of
    one seed from minting the same SIDs while nothing else about them differs."""

    def __init__(self, seed: int = 0, salt: int = 0) -> None:
        self._rng = random.Random(seed)
        self._salt = salt & (2**128 - 1)
        self._lock = threading.Lock()

        # SIDs a test chose for the next resources of a prefix (`choose`), used before any draw.
        self._chosen: dict[str, list[str]] = {}

    def new(self, prefix: str) -> str:
        """Return a fresh SID with the given two-letter prefix."""
        with self._lock:
            chosen = self._chosen.get(prefix)
            if chosen:
                return chosen.pop(0)
            return prefix + f"{self._rng.getrandbits(128) ^ self._salt:032x}"

    def choose(self, sid: str) -> None:
        """Hand out `sid` for the next resource of its prefix (after any chosen before it);
        the seeded draws are not moved, so the other SIDs stay what they would have been."""
        with self._lock:
            self._chosen.setdefault(sid[:2], []).append(sid)


class SimClock:
    """Simulated wall time: epoch seconds advancing `scale` times faster than real time.

    A manual clock (`scale=0`) only moves when `advance` is called, for deterministic tests.
    """

    def __init__(self, scale: float = 1.0, start_epoch: float | None = None) -> None:
        self.scale = scale
        self._start_epoch = time.time() if start_epoch is None else start_epoch
        self._t0 = time.monotonic()
        self._manual_offset = 0.0

    def now(self) -> float:
        """Current simulated epoch seconds."""
        if self.scale == 0:
            return self._start_epoch + self._manual_offset
        return self._start_epoch + (time.monotonic() - self._t0) * self.scale + self._manual_offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward at once (a manual clock's only way to move; a running one
        jumps ahead and goes on from there)."""
        self._manual_offset += seconds

    def real_seconds(self, sim_seconds: float) -> float:
        """How long `sim_seconds` of simulated time lasts in real time."""
        return sim_seconds / self.scale if self.scale else 0.0


@dataclass
class PauseSpan:
    """A pause of a recording, in simulated epoch seconds (end None while still paused)."""

    start: float
    end: float | None
    behavior: Literal["skip", "silence"]


@dataclass(frozen=True)
class GivenMedia:
    """Media a client supplied for a recording (flexsim.arrange), served instead of audio
    rendered from the call's timeline: the file's bytes, its format and what it holds."""

    data: bytes
    fmt: Literal["wav", "mp3"]
    channels: int
    sample_rate_hz: int | None = None  # None: not decodable (served as is, never converted)


@dataclass
class Recording:
    """A call recording, or Flex's own conference recording (`conference_sid` set)."""

    sid: str
    call_sid: str
    channels: int
    track: str
    source: str
    start_time: float
    # Set on a conference recording. Its `call_sid` is the first participant's leg (OAI
    # `conference_recording.call_sid`: "the Call the Conference Recording resource is associated
    # with"), so it is listed among that leg's recordings too: a client listing a leg's
    # recordings must not take it for a recording of the leg.
    conference_sid: str | None = None
    status: str = "in-progress"
    trim: str = "do-not-trim"
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: tuple[str, ...] = ("completed",)
    pauses: list[PauseSpan] = field(default_factory=list)
    end_time: float | None = None
    error_code: int | None = None
    deleted: bool = False
    date_created: float = 0.0
    date_updated: float = 0.0
    # Real (wall-clock) creation time, for measuring webhook-to-API latency across processes.
    created_wall: float = field(default_factory=time.time)
    # "api": a client created it through the REST API; "account": the simulated account made
    # it itself (a Studio flow, Flex's conference recording). Interference only hits "api" ones.
    origin: Literal["api", "account"] = "account"
    end_reason: EndReason | None = None
    # Set when a client arranged the recording with its own media (None: rendered audio).
    media: GivenMedia | None = None

    @property
    def duration_s(self) -> int | None:
        """Whole seconds of media (skipped pauses removed), known once the recording ended."""
        if self.end_time is None:
            return None
        total = self.end_time - self.start_time
        for span in self.pauses:
            if span.behavior == "skip":
                total -= (span.end if span.end is not None else self.end_time) - span.start
        return max(0, int(total))

    def recorded_spans(self, now: float) -> list[tuple[float, float]]:
        """The spans of the call this recording's stored media covers, in simulated epoch
        seconds: start to end (or `now` while running) minus every pause; none when nothing
        was stored (absent, failed)."""
        if self.status in NO_MEDIA_STATUSES:
            return []
        end = self.end_time if self.end_time is not None else now
        spans: list[tuple[float, float]] = []
        cursor = self.start_time
        for pause in sorted(self.pauses, key=lambda p: p.start):
            pause_end = pause.end if pause.end is not None else end
            if pause.start > cursor:
                spans.append((cursor, min(pause.start, end)))
            cursor = max(cursor, pause_end)
        if end > cursor:
            spans.append((cursor, end))
        return [(a, b) for a, b in spans if b > a]


Outcome = Literal["answer", "busy", "no-answer", "failed"]


@dataclass(frozen=True)
class Callee:
    """What the far end of an API call does (simulated seconds)."""

    outcome: Outcome = "answer"
    ring_s: float = 4.0  # rings this long before answering (or giving up: no-answer)
    talk_s: float | None = 60.0  # hangs up this long after answering (None: never; the caller ends)


@dataclass
class Call:
    """One call leg."""

    sid: str
    from_: str
    to: str
    direction: str  # "inbound" | "outbound-api" | "outbound-dial"
    party: Party
    status: str = "queued"
    parent_call_sid: str | None = None
    conference_sid: str | None = None
    interaction_id: str | None = None  # key of the Timeline this leg belongs to
    worker_sid: str | None = None
    date_created: float = 0.0
    date_updated: float = 0.0
    start_time: float | None = None
    end_time: float | None = None
    status_callback: str | None = None
    status_callback_method: str = "POST"
    # Statuses reported to `status_callback` (a call made over REST names its own events;
    # None: the account's default for its own legs, the dispatcher's setting)
    status_callback_statuses: frozenset[str] | None = None
    recordings: list[str] = field(default_factory=list)
    ordinal: int = 0  # creation order in the world: a key stable for a seed (SIDs may not be)


@dataclass
class Participant:
    """A call leg's membership of a conference."""

    call_sid: str
    label: str | None  # None: no label given (Flex documents none of its own)
    status: str = "connected"
    hold: bool = False
    muted: bool = False
    coaching: bool = False
    end_conference_on_exit: bool = False
    start_conference_on_enter: bool = True
    date_created: float = 0.0
    date_updated: float = 0.0


@dataclass
class Conference:
    """A Flex conference (friendly name = the task SID, as Flex names it)."""

    sid: str
    friendly_name: str
    status: str = "init"
    participants: dict[str, Participant] = field(default_factory=dict)
    status_callback: str | None = None
    sequence: int = 0
    date_created: float = 0.0
    date_updated: float = 0.0
    reason_ended: str | None = None
    call_sid_ending: str | None = None
    # Flex's own "Call Recording": channels of the conference recording (0: off) and its SID.
    record_channels: int = 0
    recording_sid: str | None = None


@dataclass
class Worker:
    """A Flex agent."""

    sid: str
    friendly_name: str
    attributes: dict[str, Any]
    activity_name: str = "Available"
    activity_sid: str = ""
    available: bool = True
    date_created: float = 0.0
    date_updated: float = 0.0
    version: int = 0
    roles: tuple[str, ...] = ("agent",)


@dataclass
class Reservation:
    """A worker's reservation of a task."""

    sid: str
    task_sid: str
    worker_sid: str
    status: str = "pending"
    date_created: float = 0.0
    date_updated: float = 0.0


@dataclass
class Task:
    """A TaskRouter task; `revision` backs the ETag / If-Match contract."""

    sid: str
    attributes: dict[str, Any]
    queue_sid: str
    workflow_sid: str
    channel: str = "voice"
    assignment_status: str = "pending"
    revision: int = 0
    priority: int = 0
    reason: str | None = None
    date_created: float = 0.0
    date_updated: float = 0.0
    reservations: list[str] = field(default_factory=list)
    ordinal: int = 0  # creation order in the world: a key stable for a seed (SIDs may not be)
    # Ground truth of other integrations' blind writes to this task (flexsim.interference).
    blind_writes: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Queue:
    """A TaskQueue."""

    sid: str
    name: str
    target_workers: str = "1==1"
    task_order: str = "FIFO"
    max_reserved_workers: int = 1
    date_created: float = 0.0


@dataclass
class Workflow:
    """A TaskRouter Workflow."""

    sid: str
    name: str
    configuration: str = '{"task_routing": {"filters": [], "default_filter": {}}}'
    assignment_callback_url: str | None = None
    fallback_assignment_callback_url: str | None = None
    task_reservation_timeout: int = 120
    date_created: float = 0.0


@dataclass
class WorldEvent:
    """Something Twilio would report by webhook.

    `kind` is one of: `taskrouter` (name = TaskRouter event type such as `task.updated`),
    `conference` (name = StatusCallbackEvent), `call-status` (name = call status),
    `recording-status` (name = RecordingStatus). `data` holds the resources involved.
    """

    kind: str
    name: str
    at: float
    data: dict[str, Any]
