"""The workspace callback carries every event type, and an Event Streams
batch may hold items flexrec does not use; neither may cost an event flexrec needs.

Sources:
- TaskRouter Events reference, https://www.twilio.com/docs/taskrouter/api/event/reference
  ("Event Callbacks": every event is POSTed to the workspace's EventCallbackUrl; the Worker,
  TaskQueue and Workflow event tables, e.g. `worker.activity.update`, `worker.attributes.update`,
  `worker.capacity.update`, `worker.channel.availability.update`,
  `task-queue.expression.updated`; the common parameters EventType, AccountSid, WorkspaceSid,
  WorkspaceName, EventDescription, ResourceType, ResourceSid, Timestamp).
- Event Streams TaskRouter event types, https://www.twilio.com/docs/events/event-types/taskrouter
  (CloudEvents `com.twilio.taskrouter.<eventtype>`, dataschema TaskRouter.WDSEvent/4, fields
  under `data.payload` in snake case).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from contract_app import ACCOUNT_SID, ServiceApp

WS = "WS" + "1" * 32
WK = "WK" + "2" * 32
WA_AVAILABLE, WA_OFFLINE = "WA" + "3" * 32, "WA" + "4" * 32
WQ = "WQ" + "5" * 32
WT = "WT" + "6" * 32
WR = "WR" + "7" * 32
CA = "CA" + "8" * 32
TC = "TC" + "9" * 32

COMMON = {
    "AccountSid": ACCOUNT_SID,
    "WorkspaceSid": WS,
    "WorkspaceName": "Flex Task Assignment",
    "Timestamp": "1790000000",
}
WORKER = {
    "WorkerSid": WK,
    "WorkerName": "alice",
    "WorkerAttributes": json.dumps({"contact_uri": "client:alice", "routing": {"skills": []}}),
    "WorkerActivitySid": WA_AVAILABLE,
    "WorkerActivityName": "Available",
    "WorkerVersion": "7",
}

# Every form is what the Events reference lists for that type (common fields + field data).
WORKSPACE_EVENTS = {
    "worker.activity.update": {
        **WORKER,
        "WorkerTimeInPreviousActivity": "3600",
        "WorkerTimeInPreviousActivityMs": "3600000",
        "WorkerPreviousActivitySid": WA_OFFLINE,
    },
    "worker.attributes.update": WORKER,
    "worker.capacity.update": {
        **WORKER,
        "WorkerChannelAvailable": "true",
        "WorkerChannelAvailableCapacity": "2",
        "WorkerChannelPreviousCapacity": "1",
        "WorkerChannelTaskCount": "0",
        "TaskChannelSid": TC,
        "TaskChannelUniqueName": "voice",
    },
    "worker.channel.availability.update": {
        **WORKER,
        "WorkerChannelAvailable": "false",
        "WorkerChannelAvailableCapacity": "0",
        "WorkerChannelTaskCount": "1",
        "TaskChannelSid": TC,
        "TaskChannelUniqueName": "voice",
    },
    "task-queue.expression.updated": {
        "TaskQueueSid": WQ,
        "TaskQueueName": "Everyone",
        "TaskQueueTargetExpression": "1==1",
    },
    "workflow.target-matched": {
        "TaskSid": WT,
        "TaskAttributes": json.dumps({"call_sid": CA}),
        "WorkflowSid": "WW" + "a" * 32,
        "WorkflowName": "Assign to Anyone",
        "WorkflowFilterName": "Everyone",
        "WorkflowFilterExpression": "1==1",
        "WorkflowFilterTargetExpression": "",
    },
    "activity.updated": {
        "ActivitySid": WA_AVAILABLE,
        "ActivityName": "Available",
        "ActivityAvailable": "true",
    },
}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ServiceApp]:
    service_app = ServiceApp(tmp_path)
    yield service_app
    service_app.close()


@pytest.mark.parametrize("event_type", sorted(WORKSPACE_EVENTS))
def test_an_unused_event_type_is_answered_204_and_ignored(app: ServiceApp, event_type: str) -> None:
    resource = "Worker" if event_type.startswith("worker.") else event_type.split(".")[0]
    form = {
        **COMMON,
        "EventType": event_type,
        "EventDescription": f"{event_type} happened",
        "ResourceType": resource,
        "ResourceSid": WK,
        **WORKSPACE_EVENTS[event_type],
    }
    assert app.post_form("/webhooks/taskrouter", form) == 204
    assert app.task(WT) is None  # nothing was stored from an event flexrec does not use
    assert app.twilio.requests == []


def _cloud_event(event_type: str, sid_digit: str, **payload: object) -> dict[str, object]:
    """A CloudEvent as the Event Streams TaskRouter pages show it (WDSEvent schema)."""
    return {
        "specversion": "1.0",
        "type": f"com.twilio.taskrouter.{event_type}",
        "source": "/v1/Workspaces/" + WS,
        "id": "EV" + sid_digit * 32,
        "dataschema": "https://events-schemas.twilio.com/TaskRouter.WDSEvent/4",
        "datacontenttype": "application/json",
        "time": "2026-11-20T10:00:00.000Z",
        "data": {
            "sid": "EV" + sid_digit * 32,
            "account_sid": ACCOUNT_SID,
            "timestamp": "2026-11-20T10:00:00.000Z",
            "level": "INFO",
            "product_name": "TaskRouter",
            "payload_type": "application/json",
            "payload": {
                "sid": "EV" + sid_digit * 32,
                "eventtype": event_type,
                "account_sid": ACCOUNT_SID,
                "timestamp": "2026-11-20T10:00:00.000Z",
                "workspace_sid": WS,
                "workspace_name": "Flex Task Assignment",
                **payload,
            },
        },
    }


def test_one_unused_or_bad_item_never_costs_the_batch(app: ServiceApp) -> None:
    app.twilio.add_call(CA)
    attributes = {"call_sid": CA, "direction": "inbound", "type": "inbound"}
    app.twilio.add_task(WT, attributes, assignment_status="assigned")
    accepted = _cloud_event(
        "reservation.accepted",
        "c",
        task_sid=WT,
        task_attributes=json.dumps(attributes),
        task_assignment_status="assigned",
        task_channel_unique_name="voice",
        task_queue_sid=WQ,
        reservation_sid=WR,
        worker_sid=WK,
        worker_name="alice",
    )
    batch = [
        _cloud_event("worker.activity.update", "a", worker_sid=WK, worker_activity_name="Break"),
        _cloud_event("task-queue.entered", "b", task_sid=WT, task_queue_sid=WQ),
        {**_cloud_event("task.updated", "d"), "data": "not an object"},  # cannot be parsed
        {"specversion": "1.0", "type": "com.twilio.voice.status-callback.call.ringing"},
        accepted,
    ]
    assert app.post_json("/webhooks/event-streams", batch) == 204
    app.run_jobs()
    # The reservation.accepted beside them was processed: the customer leg is being recorded.
    assert [t.call_sid for t in app.targets()] == [CA]
    assert [r.call_sid for r in app.twilio.recordings.values()] == [CA]
