"""What flexsim's public API hands out: plain, frozen snapshots of the simulated world.

Callers (tests, demos, benches) read these instead of the world's
live objects, which only the simulator's thread may touch and which change as it runs.
"""

from __future__ import annotations

from dataclasses import dataclass


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
