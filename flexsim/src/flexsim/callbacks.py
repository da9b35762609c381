"""Twilio-shaped webhook payloads built from world events (pure functions, no I/O).

Each builder snapshots the resources of a `WorldEvent` into the exact form fields (or JSON)
Twilio would send, at the moment the event happened: the dispatcher calls them while the world
lock is held, so a later change cannot leak into an earlier callback.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import time
from typing import Any

from flexsim.world import Call, Conference, Participant, Recording, Task, Worker, World

API_BASE = "https://api.twilio.com/2010-04-01"
EVENT_SCHEMA = "https://events-schemas.twilio.com/TaskRouter.WDSEvent/4"

_RESOURCE_TYPES = {
    "task": "Task",
    "reservation": "Reservation",
    "task-queue": "TaskQueue",
    "worker": "Worker",
    "workflow": "Workflow",
    "workspace": "Workspace",
    "activity": "Activity",
}


def rfc2822(epoch_s: float) -> str:
    """Twilio's RFC 2822 timestamps, always in UTC: `Tue, 24 Nov 2026 23:32:00 +0000`."""
    return _rfc2822_second(math.floor(epoch_s))


@functools.lru_cache(maxsize=256)
def _rfc2822_second(second: int) -> str:
    # busy runs stamp many callbacks within the same second: format each second once
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(second))


def iso8601(epoch_s: float) -> str:
    """ISO 8601 UTC with milliseconds, as Event Streams and Studio report times."""
    ms = round(epoch_s * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_s)) + f".{ms:03d}Z"


def recording_url(account_sid: str, recording_sid: str) -> str:
    """The public URL Twilio reports for a recording (no extension)."""
    return f"{API_BASE}/Accounts/{account_sid}/Recordings/{recording_sid}"


# Attributes JSON by owner SID: (revision, the attributes dict itself, its JSON). Most events
# of a task carry the same revision as the one before, and worker attributes rarely change;
# holding the dict keeps its identity from being reused while the entry stands.
_ATTRIBUTES_JSON: dict[str, tuple[int, dict[str, Any], str]] = {}
_ATTRIBUTES_JSON_MAX = 20_000


def _attributes_json(sid: str, revision: int, attributes: dict[str, Any]) -> str:
    cached = _ATTRIBUTES_JSON.get(sid)
    if cached is not None and cached[0] == revision and cached[1] is attributes:
        return cached[2]
    text = json.dumps(attributes, separators=(",", ":"))
    if len(_ATTRIBUTES_JSON) >= _ATTRIBUTES_JSON_MAX:
        _ATTRIBUTES_JSON.clear()
    _ATTRIBUTES_JSON[sid] = (revision, attributes, text)
    return text


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _task_fields(world: World, task: Task, at: float) -> dict[str, str]:
    queue = world.queues.get(task.queue_sid)
    workflow = world.workflows.get(task.workflow_sid)
    fields = {
        "TaskSid": task.sid,
        "TaskAttributes": _attributes_json(task.sid, task.revision, task.attributes),
        "TaskAge": str(max(0, int(at - task.date_created))),
        "TaskPriority": str(task.priority),
        "TaskAssignmentStatus": task.assignment_status,
        "TaskChannelUniqueName": task.channel,
        "TaskDateCreated": str(int(task.date_created)),
        "TaskVersion": str(task.revision),
        "TaskQueueSid": task.queue_sid,
        "TaskQueueName": queue.name if queue else "",
        "WorkflowSid": task.workflow_sid,
        "WorkflowName": workflow.name if workflow else "",
    }
    if task.assignment_status == "canceled":
        fields["TaskCanceledReason"] = task.reason or ""
    if task.assignment_status == "completed":
        fields["TaskCompletedReason"] = task.reason or ""
    return fields


def _worker_fields(worker: Worker) -> dict[str, str]:
    return {
        "WorkerSid": worker.sid,
        "WorkerName": worker.friendly_name,
        "WorkerAttributes": _attributes_json(worker.sid, worker.version, worker.attributes),
        "WorkerActivitySid": worker.activity_sid,
        "WorkerActivityName": worker.activity_name,
        "WorkerVersion": str(worker.version),
    }


def taskrouter_form(
    world: World, name: str, at: float, data: dict[str, Any], event_sid: str
) -> dict[str, str]:
    """Form fields of a workspace `EventCallbackUrl` request (TaskRouter events reference)."""
    family = name.split(".", 1)[0]  # `worker.channel.availability.update` is a Worker event
    action = name.rsplit(".", 1)[-1]
    resource_type = _RESOURCE_TYPES.get(family, "Task")
    task: Task | None = data.get("task")
    reservation = data.get("reservation")
    worker: Worker | None = data.get("worker")
    if resource_type == "Reservation" and reservation is not None:
        resource_sid = reservation.sid
    elif resource_type == "TaskQueue" and task is not None:
        resource_sid = task.queue_sid
    elif resource_type == "Worker" and worker is not None:
        resource_sid = worker.sid
    else:
        resource_sid = task.sid if task is not None else world.workspace_sid
    fields = {
        "Sid": event_sid,
        "EventType": name,
        "AccountSid": world.account_sid,
        "WorkspaceSid": world.workspace_sid,
        "WorkspaceName": world.workspace_name,
        "EventDescription": f"{resource_type} {resource_sid} {action}",
        "ResourceType": resource_type,
        "ResourceSid": resource_sid,
        "Timestamp": str(int(at)),
        "TimestampMs": str(int(at * 1000)),
    }
    if task is not None:
        fields.update(_task_fields(world, task, at))
    if reservation is not None:
        fields["ReservationSid"] = reservation.sid
    if worker is not None:
        fields.update(_worker_fields(worker))
    previous = data.get("previous")
    if previous is not None:  # worker.activity.update
        fields["WorkerPreviousActivitySid"] = previous["sid"]
        fields["WorkerPreviousActivityName"] = previous["name"]
        fields["WorkerTimeInPreviousActivity"] = str(int(previous["seconds"]))
        fields["WorkerTimeInPreviousActivityMs"] = str(int(previous["seconds"] * 1000))
    channel = data.get("channel")
    if channel is not None:  # worker.channel.availability.update
        fields["TaskChannelUniqueName"] = channel["task_channel"]
        fields["TaskChannelSid"] = _channel_sid(world, channel["task_channel"])
        fields["WorkerChannelAvailable"] = _bool(channel["available"])
        fields["WorkerChannelAvailableCapacity"] = str(int(channel["available"]))
        fields["WorkerChannelTaskCount"] = str(channel["tasks"])
    return fields


def _channel_sid(world: World, unique_name: str) -> str:
    digest = hashlib.md5(f"{world.workspace_sid}/{unique_name}".encode(), usedforsecurity=False)
    return "TC" + digest.hexdigest()


def event_streams_cloudevent(world: World, form: dict[str, str], at: float) -> dict[str, Any]:
    """One CloudEvent (Event Streams webhook sink) carrying a TaskRouter event."""
    payload: dict[str, Any] = {
        "sid": form["Sid"],
        "eventtype": form["EventType"],
        "account_sid": form["AccountSid"],
        "timestamp": iso8601(at),
        "workspace_sid": form["WorkspaceSid"],
        "workspace_name": form["WorkspaceName"],
        "resource_type": form["ResourceType"],
        "resource_sid": form["ResourceSid"],
        "description": form["EventDescription"],
    }
    snake = {
        "TaskSid": "task_sid",
        "TaskAttributes": "task_attributes",
        "TaskAssignmentStatus": "task_assignment_status",
        "TaskQueueSid": "task_queue_sid",
        "TaskQueueName": "task_queue_name",
        "WorkflowSid": "workflow_sid",
        "WorkflowName": "workflow_name",
        "TaskChannelUniqueName": "task_channel_unique_name",
        "TaskCanceledReason": "task_canceled_reason",
        "TaskCompletedReason": "task_completed_reason",
        "ReservationSid": "reservation_sid",
        "WorkerSid": "worker_sid",
        "WorkerName": "worker_name",
        "WorkerAttributes": "worker_attributes",
        "WorkerActivitySid": "worker_activity_sid",
        "WorkerActivityName": "worker_activity_name",
    }
    for form_key, key in snake.items():
        if form_key in form:
            payload[key] = form[form_key]
    for form_key, key in (
        ("TaskAge", "task_age"),
        ("TaskPriority", "task_priority"),
        ("TaskVersion", "task_version"),
    ):
        if form_key in form:
            payload[key] = int(form[form_key])
    if "TaskDateCreated" in form:
        payload["task_date_created"] = iso8601(float(form["TaskDateCreated"]))
    group = form["EventType"].split(".", 1)[0]
    return {
        "specversion": "1.0",
        "type": f"com.twilio.taskrouter.{form['EventType']}",
        "source": f"/v1/Workspaces/{form['WorkspaceSid']}",
        "id": form["Sid"],
        "time": iso8601(at),
        "datacontenttype": "application/json",
        "dataschema": EVENT_SCHEMA,
        "data": {
            "sid": form["Sid"],
            "name": form["EventType"],
            "account_sid": form["AccountSid"],
            "timestamp": iso8601(at),
            "level": "INFO",
            "group": group,
            "product_name": "TaskRouter",
            "publisher": form["WorkspaceName"],
            "publisher_metadata": "{}",
            "payload_type": "application/json",
            "payload": payload,
        },
    }


def conference_form(
    world: World, name: str, at: float, data: dict[str, Any], sequence: int
) -> dict[str, str]:
    """Form fields of a conference status callback."""
    conference: Conference = data["conference"]
    fields = {
        "ConferenceSid": conference.sid,
        "FriendlyName": conference.friendly_name,
        "AccountSid": world.account_sid,
        "SequenceNumber": str(sequence),
        "Timestamp": rfc2822(at),
        "StatusCallbackEvent": name,
    }
    participant: Participant | None = data.get("participant")
    if participant is not None:
        fields.update(
            {
                "CallSid": participant.call_sid,
                "Muted": _bool(participant.muted),
                "Hold": _bool(participant.hold),
                "Coaching": _bool(participant.coaching),
                "EndConferenceOnExit": _bool(participant.end_conference_on_exit),
                "StartConferenceOnEnter": _bool(participant.start_conference_on_enter),
            }
        )
        if participant.label:  # sent only when the participant was given a label
            fields["ParticipantLabel"] = participant.label
    if name == "participant-leave":
        fields["ReasonParticipantLeft"] = str(data.get("reason") or "participant_hung_up")
        fields["ParticipantCallStatus"] = str(data.get("call_status") or "completed")
    if name == "conference-end":
        reason = conference.reason_ended or "last-participant-left"
        fields["ReasonConferenceEnded"] = reason
        fields["Reason"] = reason.replace("-", " ").capitalize()
        if conference.call_sid_ending:
            fields["CallSidEndingConference"] = conference.call_sid_ending
            ending = conference.participants.get(conference.call_sid_ending)
            if ending is not None and ending.label:
                fields["ParticipantLabelEndingConference"] = ending.label
    return fields


def call_status_form(world: World, call: Call, at: float, sequence: int) -> dict[str, str]:
    """Form fields of a call status callback."""
    fields = {
        "AccountSid": world.account_sid,
        "ApiVersion": "2010-04-01",
        "CallSid": call.sid,
        "CallStatus": call.status,
        "CallbackSource": "call-progress-events",
        "Direction": call.direction,
        "From": call.from_,
        "To": call.to,
        "Caller": call.from_,
        "Called": call.to,
        "SequenceNumber": str(sequence),
        "Timestamp": rfc2822(at),
    }
    if call.parent_call_sid:
        fields["ParentCallSid"] = call.parent_call_sid
    if call.end_time is not None:
        duration = 0 if call.start_time is None else int(call.end_time - call.start_time)
        fields["CallDuration"] = str(duration)
        fields["Duration"] = str((duration + 59) // 60)
    return fields


def recording_status_form(world: World, recording: Recording, call: Call) -> dict[str, str]:
    """Form fields of a recording status callback."""
    fields = {
        "AccountSid": world.account_sid,
        "CallSid": call.sid,
        "RecordingSid": recording.sid,
        "RecordingUrl": recording_url(world.account_sid, recording.sid),
        "RecordingStatus": recording.status,
        "RecordingChannels": str(recording.channels),
        "RecordingStartTime": rfc2822(recording.start_time),
        "RecordingSource": recording.source,
        "RecordingTrack": recording.track,
        "ErrorCode": str(recording.error_code or 0),
    }
    duration = recording.duration_s
    if duration is not None:
        fields["RecordingDuration"] = str(duration)
    return fields
