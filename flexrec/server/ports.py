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
    """The room the other webhooks go to (flexrec.recording.intake); the two questions are
    answered from memory, on the event loop."""

    def handle_conference_event(self, event: ConferenceEvent) -> None: ...
    def handle_call_status(self, event: CallStatusEvent) -> None: ...
    def handle_recording_status(self, event: RecordingStatusEvent) -> None: ...
    def is_known_progress(self, event: RecordingStatusEvent) -> bool: ...
    def call_status_is_news(self, event: CallStatusEvent) -> bool: ...


class RecordingControl(Protocol):
    """The recording service's operations the HTTP routes and the archive's wiring call; the
    webhooks go straight to the rooms that take them."""

    @property
    def task_events(self) -> TaskEventsIntake: ...
    @property
    def intake(self) -> CallbackIntake: ...
    def pause(self, task_sid: str, actor: Actor) -> RecordingState: ...
    def resume(self, task_sid: str, actor: Actor) -> RecordingState: ...
    def state(self, task_sid: str, actor: Actor, *, catch_up: bool = True) -> RecordingState: ...
    def state_fingerprint(self, task_sid: str, actor: Actor) -> tuple[Any, ...]: ...
    def list_recordings(self, **filters: Any) -> list[RecordingView]: ...
    def list_tasks(self, **filters: Any) -> list[TaskView]: ...
    def reconcile(self) -> int: ...
    def on_recording_completed(self, callback: Callable[[RecordingView], None]) -> None: ...
