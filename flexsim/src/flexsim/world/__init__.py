"""The simulated Twilio account: every resource the simulator serves, and the events it emits.

The world is plain data (`resources`) plus the state transitions Twilio performs (`voice`,
`taskrouter`, on the shared state and event bus of `core`). It knows nothing of HTTP:
the REST layer (`flexsim.api`) reads and updates it, the engine (`flexsim.engine`)
drives calls through it, and every change that Twilio would report by webhook is published as
an event to the subscribers (`flexsim.webhooks` turns them into signed requests). The state
machines are drawn in `voice` (calls, recordings) and `taskrouter` (tasks).
"""

from __future__ import annotations

from flexsim.world.resources import (
    DEFAULT_ACTIVITIES,
    EARLY_END_REASONS,
    NO_MEDIA_STATUSES,
    TERMINAL_CALL_STATUSES,
    Call,
    Callee,
    Conference,
    EndReason,
    GivenMedia,
    Outcome,
    Participant,
    Party,
    PauseSpan,
    Queue,
    Recording,
    Reservation,
    Scheduler,
    SidFactory,
    SimClock,
    Task,
    Worker,
    Workflow,
    WorldEvent,
)
from flexsim.world.taskrouter import TaskRouterWorld
from flexsim.world.voice import VoiceWorld


class World(VoiceWorld, TaskRouterWorld):
    """All simulated resources of one account and every transition Twilio performs on them."""


__all__ = [
    "DEFAULT_ACTIVITIES",
    "EARLY_END_REASONS",
    "NO_MEDIA_STATUSES",
    "TERMINAL_CALL_STATUSES",
    "Call",
    "Callee",
    "Conference",
    "EndReason",
    "GivenMedia",
    "Outcome",
    "Participant",
    "Party",
    "PauseSpan",
    "Queue",
    "Recording",
    "Reservation",
    "Scheduler",
    "SidFactory",
    "SimClock",
    "Task",
    "Worker",
    "Workflow",
    "World",
    "WorldEvent",
]
