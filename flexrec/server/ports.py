"""What the web layer and the wiring need from the recording service, as a structural protocol.

The real `RecordingService` (flexrec.recording) satisfies it without importing it; route tests
use small stubs. The Flex-token port is `flexrec.twilio.flex_tokens.TokenValidator`, the job
queue's `flexrec.ports.JobSink`/`JobRegistry`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from flexrec.recording.pause import Actor, RecordingState
from flexrec.recording.views import RecordingView, TaskView
from flexrec.webhooks.events import (
    CallStatusEvent,
    ConferenceEvent,
    RecordingStatusEvent,
    TaskRouterEvent,
)


class TaskEventsIntake(Protocol):
    """The room TaskRouter events go to (flexrec.recording.task_events)."""

    def handle(self, event: TaskRouterEvent) -> None: ...


class CallbackIntake(Protocol):
    """The room the other webhooks go to (flexrec.recording.intake); the two questions, and
    noting a leg's numbers, are answered from memory, on the event loop."""

    def handle_conference_event(self, event: ConferenceEvent) -> None: ...
    def handle_call_status(self, event: CallStatusEvent) -> None: ...
    def handle_recording_status(self, event: RecordingStatusEvent) -> None: ...
    def is_known_progress(self, event: RecordingStatusEvent) -> bool: ...
    def call_status_is_news(self, event: CallStatusEvent) -> bool: ...
    def note_call(self, event: CallStatusEvent) -> None: ...
    def on_recording_completed(self, callback: Callable[[RecordingView], None]) -> None: ...
    def note_recording_completed(self, note: Callable[[Any, RecordingView], None]) -> None: ...


class AgentPauses(Protocol):
    """The room the agent API calls (flexrec.recording.pause): it authorises each request."""

    def pause(self, task_sid: str, actor: Actor) -> RecordingState: ...
    def resume(self, task_sid: str, actor: Actor) -> RecordingState: ...
    def state(self, task_sid: str, actor: Actor, *, catch_up: bool = True) -> RecordingState: ...
    def state_fingerprint(self, task_sid: str, actor: Actor) -> tuple[Any, ...]: ...


class Reconciling(Protocol):
    """The safety net (flexrec.recording.reconcile), run at start-up and on a timer."""

    def reconcile(self) -> int: ...


class RecordingControl(Protocol):
    """The recording rooms the HTTP routes, the CLI and the archive's wiring call: the webhooks,
    the agent API and the safety net each go straight to the room that does the work."""

    @property
    def task_events(self) -> TaskEventsIntake: ...
    @property
    def intake(self) -> CallbackIntake: ...
    @property
    def pauses(self) -> AgentPauses: ...
    @property
    def reconciler(self) -> Reconciling: ...
    def list_recordings(self, **filters: Any) -> list[RecordingView]: ...
    def list_tasks(self, **filters: Any) -> list[TaskView]: ...
