"""What flexsim's public API hands out: plain, frozen snapshots of the simulated world.

Callers (tests, demos, benches) read these instead of the world's
live objects, which only the simulator's thread may touch and which change as it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Conversation:
    """An agent and the customer were just connected: what `SimRunner.on_conversation` hooks get."""

    interaction_id: str  # the key of the interaction's ground truth (its first leg's call SID)
    scenario: str
    direction: str
    task_sid: str
    worker_sid: str  # the agent who took the task
    # A card payment in this conversation (flexsim.speech.payment): the agent's plan, in
    # simulated seconds from now, to pause before the card is read (`in_time`), after the
    # number (`late`), or not at all (`never`). None: no payment in this call.
    card_pause: str | None = None
    pause_in_s: float | None = None
    resume_in_s: float | None = None


@dataclass(frozen=True)
class RecordingInfo:
    """One call recording as the simulated Twilio account holds it."""

    sid: str
    call_sid: str
    party: str  # whose leg: "customer", "worker" or "third"
    status: str  # in-progress, paused, stopped, completed, absent, failed
    source: str  # e.g. StartCallRecordingAPI (Twilio's `source` field)
    created_wall: float  # wall-clock (time.time) creation: latency across processes
    pauses: int  # pause spans so far
    channels: int = 1  # 1 (mono) or 2 (dual: channel 1 what the leg sends, 2 what it hears)
    conference_sid: str | None = None  # set on a conference's own recording


@dataclass(frozen=True)
class ReservationInfo:
    """A TaskRouter reservation: an agent offered (and maybe holding) a task."""

    sid: str
    task_sid: str
    worker_sid: str
    status: str  # pending, accepted, wrapping, completed, canceled, rejected...


@dataclass(frozen=True)
class SimStats:
    """Counters of a running simulator."""

    generated: int  # interactions started
    active: int  # interactions not finished yet
    finished: int
    webhooks_sent: int
    webhooks_failed: int  # deliveries given up (after retries) or answered 4xx
    webhooks_pending: int  # queued or in flight


@dataclass(frozen=True)
class CallInfo:
    """One call leg as the simulated account holds it."""

    sid: str
    from_: str
    to: str
    direction: str  # inbound, outbound-api, outbound-dial
    status: str  # queued, ringing, in-progress, completed, busy, no-answer, failed, canceled
    party: str  # customer, worker or third
    conference_sid: str | None


@dataclass(frozen=True)
class TaskInfo:
    """A TaskRouter task (its attributes as they are now, a copy)."""

    sid: str
    assignment_status: str
    attributes: dict[str, Any]
    revision: int  # the ETag
    queue_sid: str
    workflow_sid: str
    reservation_sids: tuple[str, ...]


@dataclass(frozen=True)
class ConferenceInfo:
    """A conference and its participants (call SID -> label)."""

    sid: str
    friendly_name: str
    status: str
    participants: dict[str, str | None]
    recording_sid: str | None  # the conference's own recording, when it records
