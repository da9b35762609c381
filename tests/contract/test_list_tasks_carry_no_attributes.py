"""List Tasks carries no attributes, so reconciliation must fetch a task to
learn them, and a list must never overwrite attributes the service already holds.

Source: Twilio's OpenAPI spec vendor/twilio-oai/twilio_taskrouter_v1.json, operation
`ListTask` (`GET /v1/Workspaces/{WorkspaceSid}/Tasks`, response `ListTaskResponse`: `tasks` and
`meta`) and schema `taskrouter.v1.workspace.task`, property `attributes`: "it will only be
displayed in FETCH action that returns a single resource. Otherwise, it will be null." The
bodies below follow those schemas field by field; they are served to the official SDK.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from contract_app import ACCOUNT_SID, ServiceApp
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client

from flexrec.recording.policy import policy_from_mapping
from flexrec.recording.service import RecordingService
from flexrec.twilio.gateway import SdkGateway
from flexrec.webhooks.events import parse_taskrouter_form

WS = "WS" + "1" * 32
WT = "WT" + "2" * 32
CA = "CA" + "3" * 32
WQ = "WQ" + "4" * 32
WW = "WW" + "5" * 32
TR = f"https://taskrouter.twilio.com/v1/Workspaces/{WS}"


def task_body(attributes: dict[str, Any] | None) -> dict[str, Any]:
    """A `taskrouter.v1.workspace.task` (attributes None: as List Tasks shows it)."""
    return {
        "account_sid": ACCOUNT_SID,
        "age": 25200,
        "assignment_status": "assigned",
        "attributes": None if attributes is None else json.dumps(attributes),
        "addons": "{}",
        "date_created": "2026-11-20T10:00:00Z",
        "date_updated": "2026-11-20T10:00:30Z",
        "task_queue_entered_date": "2026-11-20T10:00:00Z",
        "priority": 0,
        "reason": None,
        "sid": WT,
        "task_queue_sid": WQ,
        "task_queue_friendly_name": "Everyone",
        "task_channel_sid": "TC" + "6" * 32,
        "task_channel_unique_name": "voice",
        "timeout": 86400,
        "workflow_sid": WW,
        "workflow_friendly_name": "Assign to Anyone",
        "workspace_sid": WS,
        "url": f"{TR}/Tasks/{WT}",
        "links": {
            "task_queue": f"{TR}/TaskQueues/{WQ}",
            "workflow": f"{TR}/Workflows/{WW}",
            "workspace": TR,
            "reservations": f"{TR}/Tasks/{WT}/Reservations",
        },
        "virtual_start_time": "2026-11-20T10:00:00Z",
        "ignore_capacity": False,
        "routing_target": None,
    }


class TaskRouterHttp(HttpClient):
    """TaskRouter's answers for one task: List Tasks (attributes null) and Fetch/Update Task."""

    def __init__(self, attributes: dict[str, Any]) -> None:
        super().__init__(logger=None, is_async=False)  # type: ignore[arg-type]
        self.attributes = attributes
        self.fetches = 0

    def request(self, method: str, uri: str, params: Any = None, data: Any = None,
                headers: Any = None, auth: Any = None, timeout: Any = None,
                allow_redirects: bool = False) -> Response:  # fmt: skip
        path = urlsplit(uri).path
        if path.endswith("/Tasks") and method == "GET":
            status = (params or {}).get("AssignmentStatus")
            statuses = status if isinstance(status, list) else [status]
            tasks = [task_body(None)] if "assigned" in statuses else []
            page = {
                "tasks": tasks,
                "meta": {
                    "first_page_url": f"{TR}/Tasks?PageSize=50&Page=0",
                    "key": "tasks",
                    "next_page_url": None,
                    "page": 0,
                    "page_size": 50,
                    "previous_page_url": None,
                    "url": f"{TR}/Tasks?PageSize=50&Page=0",
                },
            }
            return Response(200, json.dumps(page))
        if path.endswith(f"/Tasks/{WT}"):
            if method == "POST":
                self.attributes = json.loads((data or {})["Attributes"])
            else:
                self.fetches += 1
            return Response(200, json.dumps(task_body(self.attributes)), {"ETag": "3"})
        return Response(404, json.dumps({"code": 20404, "message": "not found", "status": 404}))


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ServiceApp]:
    service_app = ServiceApp(tmp_path)
    yield service_app
    service_app.close()


def _reconciling_service(
    app: ServiceApp, http: TaskRouterHttp, policy: dict[str, Any] | None = None
) -> RecordingService:
    """The app's service, but its TaskRouter calls go to `http` through the real SDK."""
    tasks = SdkGateway(Client("SK" + "7" * 32, "secret", ACCOUNT_SID, http_client=http), "", WS)
    service = RecordingService(
        app.sessions, app.twilio, tasks, policy_from_mapping(policy or {}), "http://testserver"
    )
    service.set_queue(app.queue)
    return service


def test_reconcile_fetches_a_listed_task_to_learn_its_call(app: ServiceApp) -> None:
    # No webhook arrived (an outage): only reconciliation can find this call.
    app.twilio.add_call(CA)
    http = TaskRouterHttp({"call_sid": CA, "direction": "inbound", "type": "inbound"})
    service = _reconciling_service(app, http)
    service.reconciler.reconcile()
    app.run_jobs()
    assert http.fetches >= 1
    assert [t.call_sid for t in app.targets()] == [CA]


def test_a_list_never_overwrites_attributes_the_service_holds(app: ServiceApp) -> None:
    # The call is excluded by an attribute rule; a list (attributes null) must not undo that.
    attributes = {"call_sid": CA, "direction": "inbound", "tags": ["no-record"]}
    app.twilio.add_call(CA)
    http = TaskRouterHttp(attributes)
    policy = {"exclude": {"attributes": [{"path": "tags", "op": "contains", "value": "no-record"}]}}
    service = _reconciling_service(app, http, policy)
    event_form = {
        "EventType": "task.created",
        "AccountSid": ACCOUNT_SID,
        "WorkspaceSid": WS,
        "ResourceType": "Task",
        "ResourceSid": WT,
        "Timestamp": "1790000000",
        "TaskSid": WT,
        "TaskAttributes": json.dumps(attributes),
        "TaskAssignmentStatus": "pending",
        "TaskChannelUniqueName": "voice",
    }
    service.task_events.handle(parse_taskrouter_form(event_form))
    service.reconciler.reconcile()
    app.run_jobs()
    row = app.task(WT)
    assert row is not None and row.attributes == attributes
    assert app.targets() == []
    assert app.twilio.recordings == {}
