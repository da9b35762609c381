"""The world's state and its event bus: what every transition reads and writes."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

from flexsim import defaults
from flexsim.timeline import Timeline
from flexsim.world.resources import (
    DEFAULT_ACTIVITIES,
    Call,
    Callee,
    Conference,
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


class WorldState:
    """All simulated resources of one account, guarded by one lock for the REST threads."""

    def __init__(
        self,
        clock: SimClock | None = None,
        seed: int = 0,
        account_sid: str = defaults.ACCOUNT_SID,
        workspace_sid: str = defaults.WORKSPACE_SID,
        sid_salt: int = 0,
    ) -> None:
        self.clock = clock or SimClock()
        self.seed = seed
        # 0: the same SIDs for the same seed (tests building a world); SimRunner salts per run
        self.sid_salt = sid_salt
        self.sids = SidFactory(seed, sid_salt)
        self.account_sid = account_sid
        self.workspace_sid = workspace_sid
        self.workspace_name = "Flex Task Assignment"
        self.event_callback_url: str | None = None
        self.events_filter: str | None = None  # workspace EventsFilter (comma-separated types)
        # Event Streams: sinks {"sid", "destination", "sink_type", ...} and subscriptions
        # {"sid", "sink_sid", "types": [{"type", "schema_version"}], ...} made over REST.
        self.event_stream_sinks: list[dict[str, Any]] = []
        self.event_subscriptions: list[dict[str, Any]] = []
        self.lock = threading.RLock()
        self.calls: dict[str, Call] = {}
        self.recordings: dict[str, Recording] = {}
        self.conferences: dict[str, Conference] = {}
        self.tasks: dict[str, Task] = {}
        self.workers: dict[str, Worker] = {}
        self.reservations: dict[str, Reservation] = {}
        self.queues: dict[str, Queue] = {}
        self.workflows: dict[str, Workflow] = {}
        # Activities by name -> whether a worker in it is available (a Flex workspace's four)
        self.activities: dict[str, bool] = dict(DEFAULT_ACTIVITIES)
        self.flex_configuration: dict[str, Any] = {"call_recording_enabled": False}
        # What a second recording start on an already-recorded call does: "create" a second
        # recording (the strict default: duplicates stay visible) or "reuse" the running one.
        self.second_recording: str = "create"
        # What List Tasks shows as `attributes`: "null" as the spec says, or "attributes"
        self.list_task_attributes: str = "null"
        # Runs lifecycles that take time (a REST-made call ringing); None leaves them still.
        self.scheduler: Scheduler | None = None
        # What the far end of a REST-made call does, by number (flexsim.callees)
        self.callees: dict[str, Callee] = {}
        # Conversation timelines by interaction id (see flexsim.timeline); written by the
        # engine, read by the audio renderer and the ground-truth endpoints.
        self.timelines: dict[str, Timeline] = {}
        self._subscribers: list[Callable[[WorldEvent], None]] = []
        self._seq = itertools.count(1)

    # -- events ---------------------------------------------------------------------------
    def subscribe(self, callback: Callable[[WorldEvent], None]) -> None:
        """Register a callback for every event (called with the world lock held: keep it quick)."""
        self._subscribers.append(callback)

    def emit(self, kind: str, name: str, **data: Any) -> None:
        """Publish an event to every subscriber."""
        event = WorldEvent(kind=kind, name=name, at=self.clock.now(), data=data)
        for callback in self._subscribers:
            callback(event)
