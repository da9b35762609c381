"""A stand-in Twilio for contract tests: the official SDK, through flexrec's real gateway, talks
to an HTTP client that answers from canned JSON written from Twilio's documentation.

Nothing here comes from the simulator: every resource shape below is the documented one, and
each builder names the page or spec schema it follows. The recording service under test is the
real one (SQLite, the inline queue), so a test states what Twilio holds, feeds a documented
webhook, and asserts what the service asked Twilio to do.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client

from flexrec.db.base import make_engine, make_session_factory
from flexrec.db.migrate import upgrade
from flexrec.jobs.queue import InlineJobQueue
from flexrec.jobs.tasks import register_recording_jobs
from flexrec.recording.policy import RecordingPolicy
from flexrec.recording.service import RecordingService
from flexrec.twilio.gateway import SdkGateway

ACCOUNT = "AC" + "c0ffee00" * 4
WORKSPACE = "WS" + "c0ffee01" * 4
PUBLIC_URL = "https://rec.example.com"
API = f"/2010-04-01/Accounts/{ACCOUNT}"
RFC2822 = "Tue, 24 Nov 2026 12:00:03 +0000"


def sid(prefix: str, n: int) -> str:
    """A well-formed SID."""
    return f"{prefix}{n:032x}"


# -- documented resource shapes ------------------------------------------------------------------
def conference_json(conference_sid: str, friendly_name: str, status: str) -> dict[str, Any]:
    """Source: Twilio Voice docs, Conference resource (api.v2010.account.conference; the
    "Read multiple Conference resources" example)."""
    uri = f"{API}/Conferences/{conference_sid}.json"
    return {
        "account_sid": ACCOUNT,
        "api_version": "2010-04-01",
        "call_sid_ending_conference": None,
        "date_created": "Tue, 24 Nov 2026 12:00:00 +0000",
        "date_updated": "Tue, 24 Nov 2026 12:00:01 +0000",
        "friendly_name": friendly_name,
        "reason_conference_ended": None,
        "region": "us1",
        "sid": conference_sid,
        "status": status,
        "subresource_uris": {
            "participants": f"{API}/Conferences/{conference_sid}/Participants.json",
            "recordings": f"{API}/Conferences/{conference_sid}/Recordings.json",
        },
        "uri": uri,
    }


def participant_json(conference_sid: str, call_sid: str, label: str | None) -> dict[str, Any]:
    """Source: Twilio Voice docs, Conference Participant resource (api.v2010.account.conference.
    participant): `label` is null unless the participant's creator gave one."""
    return {
        "account_sid": ACCOUNT,
        "call_sid": call_sid,
        "label": label,
        "call_sid_to_coach": None,
        "coaching": False,
        "conference_sid": conference_sid,
        "date_created": "Tue, 24 Nov 2026 12:00:01 +0000",
        "date_updated": "Tue, 24 Nov 2026 12:00:01 +0000",
        "end_conference_on_exit": False,
        "muted": False,
        "hold": False,
        "status": "connected",
        "start_conference_on_enter": True,
        "queue_time": "0",
        "uri": f"{API}/Conferences/{conference_sid}/Participants/{call_sid}.json",
    }


def call_json(
    call_sid: str, to: str, from_: str, direction: str, status: str = "in-progress"
) -> dict[str, Any]:
    """Source: Twilio Voice docs, Call resource (api.v2010.account.call, the fetch example)."""
    return {
        "account_sid": ACCOUNT,
        "annotation": None,
        "answered_by": None,
        "api_version": "2010-04-01",
        "caller_name": None,
        "date_created": "Tue, 24 Nov 2026 11:59:50 +0000",
        "date_updated": "Tue, 24 Nov 2026 12:00:01 +0000",
        "direction": direction,
        "duration": None,
        "end_time": None,
        "forwarded_from": None,
        "from": from_,
        "from_formatted": from_,
        "group_sid": None,
        "parent_call_sid": None,
        "phone_number_sid": None,
        "price": None,
        "price_unit": "USD",
        "sid": call_sid,
        "start_time": "Tue, 24 Nov 2026 11:59:55 +0000",
        "status": status,
        "subresource_uris": {"recordings": f"{API}/Calls/{call_sid}/Recordings.json"},
        "to": to,
        "to_formatted": to,
        "trunk_sid": None,
        "uri": f"{API}/Calls/{call_sid}.json",
        "queue_time": "0",
    }


def recording_json(
    recording_sid: str,
    call_sid: str,
    *,
    channels: int,
    source: str,
    status: str = "in-progress",
    conference_sid: str | None = None,
) -> dict[str, Any]:
    """Source: Twilio Voice docs, Call Recording resource (api.v2010.account.call.
    call_recording); `conference_sid` is set on a conference recording."""
    return {
        "account_sid": ACCOUNT,
        "api_version": "2010-04-01",
        "call_sid": call_sid,
        "conference_sid": conference_sid,
        "channels": channels,
        "date_created": RFC2822,
        "date_updated": RFC2822,
        "start_time": RFC2822,
        "duration": "-1",
        "sid": recording_sid,
        "price": None,
        "price_unit": "USD",
        "status": status,
        "source": source,
        "error_code": None,
        "encryption_details": None,
        "track": "both",
        "uri": f"{API}/Calls/{call_sid}/Recordings/{recording_sid}.json",
    }


def task_json(task_sid: str, attributes: dict[str, Any], status: str) -> dict[str, Any]:
    """Source: TaskRouter docs, Task resource (taskrouter.v1.workspace.task, fetch example)."""
    return {
        "account_sid": ACCOUNT,
        "age": 25,
        "assignment_status": status,
        "attributes": json.dumps(attributes),
        "date_created": "2026-11-24T12:00:00Z",
        "date_updated": "2026-11-24T12:00:01Z",
        "task_queue_entered_date": "2026-11-24T12:00:00Z",
        "priority": 0,
        "reason": None,
        "sid": task_sid,
        "task_queue_sid": sid("WQ", 1),
        "task_queue_friendly_name": "Everyone",
        "task_channel_sid": sid("TC", 1),
        "task_channel_unique_name": "voice",
        "timeout": 86400,
        "workflow_sid": sid("WW", 1),
        "workflow_friendly_name": "Assign to Anyone",
        "workspace_sid": WORKSPACE,
        "url": f"https://taskrouter.twilio.com/v1/Workspaces/{WORKSPACE}/Tasks/{task_sid}",
        "links": {},
        "addons": "{}",
        "virtual_start_time": "2026-11-24T12:00:00Z",
        "ignore_capacity": False,
        "routing_target": None,
    }


def v2010_page(key: str, items: list[dict[str, Any]], uri: str) -> dict[str, Any]:
    """Source: Twilio API docs, paging of 2010-04-01 list resources."""
    return {
        key: items,
        "end": max(0, len(items) - 1),
        "first_page_uri": f"{uri}?PageSize=50&Page=0",
        "next_page_uri": None,
        "page": 0,
        "page_size": 50,
        "previous_page_uri": None,
        "start": 0,
        "uri": f"{uri}?PageSize=50&Page=0",
    }


def not_found(path: str) -> dict[str, Any]:
    """Source: Twilio API docs, error 20404."""
    return {
        "code": 20404,
        "message": f"The requested resource {path} was not found",
        "more_info": "https://www.twilio.com/docs/errors/20404",
        "status": 404,
    }


def taskrouter_form(
    event_type: str,
    task_sid: str,
    attributes: dict[str, Any],
    status: str,
    *,
    reservation_sid: str | None = None,
    worker_sid: str | None = None,
    timestamp: int = 1_795_000_000,
) -> dict[str, str]:
    """Source: TaskRouter docs, Event Callbacks / events reference: the fields every event
    carries, plus the task's and (reservation events) the reservation's and worker's."""
    form = {
        "EventType": event_type,
        "AccountSid": ACCOUNT,
        "WorkspaceSid": WORKSPACE,
        "WorkspaceName": "Flex Task Assignment",
        "EventDescription": f"{event_type} event",
        "ResourceType": "Reservation" if reservation_sid else "Task",
        "ResourceSid": reservation_sid or task_sid,
        "Timestamp": str(timestamp),
        "Sid": sid("EV", timestamp % 4096),
        "TaskSid": task_sid,
        "TaskAttributes": json.dumps(attributes),
        "TaskAge": "20",
        "TaskPriority": "0",
        "TaskAssignmentStatus": status,
        "TaskQueueSid": sid("WQ", 1),
        "TaskQueueName": "Everyone",
        "WorkflowSid": sid("WW", 1),
        "WorkflowName": "Assign to Anyone",
        "TaskChannelUniqueName": "voice",
    }
    if reservation_sid:
        form.update(
            {
                "ReservationSid": reservation_sid,
                "WorkerSid": worker_sid or sid("WK", 1),
                "WorkerName": "alice",
                "WorkerAttributes": json.dumps({"contact_uri": "client:alice"}),
                "WorkerActivitySid": sid("WA", 1),
                "WorkerActivityName": "Available",
            }
        )
    return form


# -- the stand-in ------------------------------------------------------------------------------
@dataclass
class Seen:
    """One request the SDK made."""

    method: str
    path: str
    query: dict[str, list[str]]
    form: dict[str, list[str]]


Handler = Callable[[Seen], tuple[int, dict[str, Any]]]


@dataclass
class TwilioStandIn(HttpClient):
    """Canned answers by (method, path regex); every request is kept in `seen`."""

    routes: list[tuple[str, re.Pattern[str], Handler]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(None, is_async=False, timeout=None)

    def on(self, method: str, path: str, handler: Handler | dict[str, Any]) -> None:
        """Answer `method path` (path: a regex of the whole path) with `handler`."""
        answer = handler if callable(handler) else (lambda _seen, body=handler: (200, body))
        self.routes.insert(0, (method, re.compile(path + "$"), answer))

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        """Answer from the routes (404 as Twilio words it when none matches)."""
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        for key, value in (params or {}).items():
            query.setdefault(key, []).extend(_as_list(value))
        form: dict[str, list[str]] = {}
        for key, value in (data or {}).items():
            form.setdefault(key, []).extend(_as_list(value))
        seen = Seen(method.upper(), parts.path, query, form)
        self.seen.append(seen)
        for route_method, pattern, handler in self.routes:
            if route_method == seen.method and pattern.match(seen.path):
                status, body = handler(seen)
                etag = body.pop("__etag__", None) if isinstance(body, dict) else None
                out_headers = {"Content-Type": "application/json"}
                if etag:
                    out_headers["ETag"] = etag
                return Response(status, json.dumps(body), out_headers)
        return Response(404, json.dumps(not_found(seen.path)), {})

    def made(self, method: str, path_contains: str) -> list[Seen]:
        """The requests of one kind."""
        return [s for s in self.seen if s.method == method and path_contains in s.path]


def _as_list(value: object) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value)]


class FlexAccount:
    """A Twilio account as documented: tasks, calls, conferences, recordings, served to the
    SDK by `TwilioStandIn`; attribute writes honour ETag / If-Match."""

    def __init__(self) -> None:
        self.http = TwilioStandIn()
        self.tasks: dict[str, dict[str, Any]] = {}  # sid -> {"attributes", "status", "rev"}
        self.calls: dict[str, dict[str, Any]] = {}
        self.conferences: list[dict[str, Any]] = []
        self.participants: dict[str, list[dict[str, Any]]] = {}
        self.recordings: list[dict[str, Any]] = []
        self.created: list[dict[str, list[str]]] = []
        self._next = 0xA000
        http = self.http
        http.on("GET", rf"/v1/Workspaces/{WORKSPACE}/Tasks/(WT\w+)", self._fetch_task)
        http.on("POST", rf"/v1/Workspaces/{WORKSPACE}/Tasks/(WT\w+)", self._update_task)
        http.on("GET", rf"{API}/Conferences\.json", self._list_conferences)
        http.on("GET", rf"{API}/Conferences/(CF\w+)/Participants\.json", self._participants)
        http.on("GET", rf"{API}/Calls/(CA\w+)\.json", self._fetch_call)
        http.on("GET", rf"{API}/Calls/(CA\w+)/Recordings\.json", self._list_recordings)
        http.on("POST", rf"{API}/Calls/(CA\w+)/Recordings\.json", self._create_recording)

    # -- state -----------------------------------------------------------------------------
    def add_task(self, task_sid: str, attributes: dict[str, Any], status: str) -> None:
        """A task TaskRouter holds."""
        self.tasks[task_sid] = {"attributes": dict(attributes), "status": status, "rev": 1}

    def add_call(self, call: dict[str, Any]) -> None:
        """A call leg (a `call_json`)."""
        self.calls[call["sid"]] = call

    def add_conference(
        self, conference: dict[str, Any], participants: list[dict[str, Any]]
    ) -> None:
        """A conference (a `conference_json`) and its participants."""
        self.conferences.append(conference)
        self.participants[conference["sid"]] = participants

    def add_recording(self, recording: dict[str, Any]) -> None:
        """A recording already on the account (a `recording_json`)."""
        self.recordings.append(recording)

    def attributes(self, task_sid: str) -> dict[str, Any]:
        """The task's current attributes."""
        return dict(self.tasks[task_sid]["attributes"])

    # -- handlers --------------------------------------------------------------------------
    @staticmethod
    def _tail(seen: Seen, marker: str) -> str:
        return seen.path.split(marker, 1)[1].split("/", 1)[0].split(".", 1)[0]

    def _task_body(self, task_sid: str) -> dict[str, Any]:
        task = self.tasks[task_sid]
        body = task_json(task_sid, task["attributes"], task["status"])
        body["__etag__"] = f'"{task["rev"]}"'
        return body

    def _fetch_task(self, seen: Seen) -> tuple[int, dict[str, Any]]:
        task_sid = self._tail(seen, "/Tasks/")
        if task_sid not in self.tasks:
            return 404, not_found(seen.path)
        return 200, self._task_body(task_sid)

    def _update_task(self, seen: Seen) -> tuple[int, dict[str, Any]]:
        task_sid = self._tail(seen, "/Tasks/")
        task = self.tasks.get(task_sid)
        if task is None:
            return 404, not_found(seen.path)
        if "Attributes" in seen.form:
            task["attributes"] = json.loads(seen.form["Attributes"][0])
            task["rev"] += 1
        return 200, self._task_body(task_sid)

    def _list_conferences(self, seen: Seen) -> tuple[int, dict[str, Any]]:
        name = (seen.query.get("FriendlyName") or [None])[0]
        status = (seen.query.get("Status") or [None])[0]
        items = [
            c
            for c in self.conferences
            if (name is None or c["friendly_name"] == name)
            and (status is None or c["status"] == status)
        ]
        return 200, v2010_page("conferences", items, f"{API}/Conferences.json")

    def _participants(self, seen: Seen) -> tuple[int, dict[str, Any]]:
        conference_sid = self._tail(seen, "/Conferences/")
        items = self.participants.get(conference_sid, [])
        uri = f"{API}/Conferences/{conference_sid}/Participants.json"
        return 200, v2010_page("participants", items, uri)

    def _fetch_call(self, seen: Seen) -> tuple[int, dict[str, Any]]:
        call = self.calls.get(self._tail(seen, "/Calls/"))
        return (200, call) if call else (404, not_found(seen.path))

    def _list_recordings(self, seen: Seen) -> tuple[int, dict[str, Any]]:
        call_sid = self._tail(seen, "/Calls/")
        items = [r for r in self.recordings if r["call_sid"] == call_sid]
        return 200, v2010_page("recordings", items, f"{API}/Calls/{call_sid}/Recordings.json")

    def _create_recording(self, seen: Seen) -> tuple[int, dict[str, Any]]:
        call_sid = self._tail(seen, "/Calls/")
        call = self.calls.get(call_sid)
        if call is None:
            return 404, not_found(seen.path)
        if call["status"] != "in-progress":
            return 400, {"code": 21220, "message": "Invalid call state", "status": 400}
        self._next += 1
        channels = 2 if seen.form.get("RecordingChannels") == ["dual"] else 1
        recording = recording_json(
            sid("RE", self._next), call_sid, channels=channels, source="StartCallRecordingAPI"
        )
        self.recordings.append(recording)
        self.created.append(seen.form)
        return 201, recording


@dataclass
class Contract:
    """The real recording service on a `FlexAccount`."""

    account: FlexAccount
    service: RecordingService
    queue: InlineJobQueue

    def taskrouter(self, form: dict[str, str]) -> None:
        """Deliver one TaskRouter event callback, then run whatever it queued."""
        from flexrec.webhooks.events import parse_taskrouter_form

        self.service.task_events.handle(parse_taskrouter_form(form))
        self.queue.run_all(max_jobs=50)

    def media(self, task_sid: str) -> list[dict[str, Any]]:
        """The task's `conversations.media` now."""
        conversations = self.account.attributes(task_sid).get("conversations") or {}
        return list(conversations.get("media") or [])


def make_contract(tmp_path: Path) -> Contract:
    """A migrated SQLite database, the SDK gateway on the stand-in, the inline queue."""
    url = f"sqlite:///{tmp_path / 'flexrec.db'}"
    upgrade(url)
    sessions = make_session_factory(make_engine(url))
    account = FlexAccount()
    client = Client(ACCOUNT, "auth-token", http_client=account.http)
    gateway = SdkGateway(client, ACCOUNT, WORKSPACE)
    service = RecordingService(
        sessions, gateway, gateway, RecordingPolicy(), PUBLIC_URL, inline_attempts=1
    )
    queue = InlineJobQueue()
    register_recording_jobs(queue, service, reconcile_at_start=False)
    return Contract(account, service, queue)
