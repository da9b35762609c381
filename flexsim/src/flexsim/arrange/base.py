"""The pieces every arrangement shares: its error, the snapshots it returns, SID lookups."""

from __future__ import annotations

import copy
from typing import Any, Literal

from flexsim.views import CallInfo, ConferenceInfo, RecordingInfo, TaskInfo
from flexsim.world import Call, Conference, Recording, Task, World

# How a leg reaches each status (every step announced as Twilio would announce it).
CALL_PATHS: dict[str, tuple[str, ...]] = {
    "queued": (),
    "ringing": ("ringing",),
    "in-progress": ("ringing", "in-progress"),
    "completed": ("ringing", "in-progress", "completed"),
    "busy": ("ringing", "busy"),
    "no-answer": ("ringing", "no-answer"),
    "canceled": ("ringing", "canceled"),
    "failed": ("failed",),
}
CALL_STATUSES = tuple(CALL_PATHS)
TASK_STATUSES = ("pending", "reserved", "assigned", "wrapping", "completed", "canceled")
ListShape = Literal["null", "attributes"]


class ArrangeError(ValueError):
    """The world cannot be arranged that way (an unknown SID, a status it cannot reach)."""


def call_info(call: Call) -> CallInfo:
    """A call leg's snapshot."""
    return CallInfo(
        call.sid, call.from_, call.to, call.direction, call.status, call.party, call.conference_sid
    )


def task_info(task: Task) -> TaskInfo:
    """A task's snapshot."""
    return TaskInfo(
        task.sid,
        task.assignment_status,
        copy.deepcopy(task.attributes),
        task.revision,
        task.queue_sid,
        task.workflow_sid,
        tuple(task.reservations),
    )


def conference_info(conference: Conference) -> ConferenceInfo:
    """A conference's snapshot."""
    return ConferenceInfo(
        conference.sid,
        conference.friendly_name,
        conference.status,
        {sid: p.label for sid, p in conference.participants.items()},
        conference.recording_sid,
    )


def recording_info(world: World, recording: Recording) -> RecordingInfo:
    """A recording's snapshot."""
    call = world.calls.get(recording.call_sid)
    return RecordingInfo(
        sid=recording.sid,
        call_sid=recording.call_sid,
        party=call.party if call else "",
        status=recording.status,
        source=recording.source,
        created_wall=recording.created_wall,
        pauses=len(recording.pauses),
        channels=recording.channels,
        conference_sid=recording.conference_sid,
    )


class ArrangeBase:
    """The world an arrangement builds in, and lookups that raise `ArrangeError`."""

    def __init__(self, world: World) -> None:
        self.world = world

    def _get(self, table: dict[str, Any], sid: str, what: str) -> Any:
        found = table.get(sid)
        if found is None:
            raise ArrangeError(f"no {what} {sid}")
        return found
