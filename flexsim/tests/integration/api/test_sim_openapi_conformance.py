"""Every served Twilio route, driven by the official SDK, answers what Twilio's OpenAPI says.

The app runs under uvicorn on loopback; the SDK reaches it through its own HTTP client with the
host rebased, wrapped here to validate every JSON response against the operation's response schema
and to note which served (method, path template) each request hit.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import pytest
from sim_api_oai import HOST_SPECS, response_validator
from twilio.base.exceptions import TwilioRestException
from twilio.http.response import Response
from twilio.rest import Client

from flexsim import defaults, free_port, serve_app
from flexsim.api import create_sim_app
from flexsim.api.app import OPERATIONS
from flexsim.testing import SimHttpClient
from flexsim.tokens import issue_token
from flexsim.world import TERMINAL_CALL_STATUSES

if TYPE_CHECKING:
    from sim_api_support import Scenario

AC = defaults.ACCOUNT_SID


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{\w+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


ROUTES = [(op, _pattern(op.path)) for op in OPERATIONS]


@dataclass
class Conformance:
    """What the wrapped client saw: routes hit, responses checked, problems found."""

    covered: set[tuple[str, str]] = field(default_factory=set)
    validated: int = 0
    problems: list[str] = field(default_factory=list)

    def check(self, method: str, url: str, response: Response) -> None:
        """Match the request to a served route and validate the answer."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        match = next(
            (op for op, pattern in ROUTES if op.method == method and pattern.fullmatch(parts.path)),
            None,
        )
        if match is None:
            self.problems.append(f"no served route for {method} {parts.path}")
            return
        self.covered.add((match.method, match.path))
        # Media downloads are Voice paths outside the spec; IAM has no spec at all.
        expected = (
            "api_v2010" if match.spec is None and "/Recordings/" in match.path else match.spec
        )
        if HOST_SPECS.get(host, "?") != expected:
            self.problems.append(f"{method} {parts.path} reached through {host}")
        if response.status_code >= 400:
            body = json.loads(response.text)
            if set(body) != {"code", "message", "more_info", "status"}:
                self.problems.append(f"{method} {parts.path}: error body {body}")
            return
        if match.spec is None:
            return
        validator = response_validator(match.spec, match.path, method, response.status_code)
        if validator is None:
            if response.text:
                self.problems.append(f"{method} {parts.path}: body on a bodiless response")
            return
        body = json.loads(response.text)
        for error in validator.iter_errors(body):
            where = "/".join(str(p) for p in error.absolute_path)
            self.problems.append(f"{method} {match.path} [{where}]: {error.message}")
        self.validated += 1


class ConformanceHttpClient(SimHttpClient):
    """flexsim.testing's SDK client (every Twilio host rebased onto the simulator), checking
    every exchange against the spec of the host the SDK addressed."""

    def __init__(self, base_url: str, conformance: Conformance) -> None:
        super().__init__(base_url, timeout=30)
        self.conformance = conformance

    def request(  # type: ignore[override]
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
        response = super().request(
            method, url, params, data, headers, auth, timeout, allow_redirects
        )
        self.conformance.check(method, url, response)
        return response


@pytest.fixture
def sdk(scenario: Scenario) -> Iterator[tuple[Client, Conformance]]:
    """An SDK client (API key credentials) talking to the served app, and its findings."""
    conformance = Conformance()
    with serve_app(create_sim_app(scenario.world)) as base_url:
        http_client = ConformanceHttpClient(base_url, conformance)
        client = Client(defaults.API_KEY_SID, defaults.API_KEY_SECRET, AC, http_client=http_client)
        yield client, conformance
        http_client.close()


def _drive_voice(client: Client, scenario: Scenario, media: list[Any]) -> None:
    world = scenario.world
    customer = client.calls(scenario.customer_sid)
    assert {c.sid for c in client.calls.list(page_size=2)} == set(world.calls)
    assert [c.sid for c in client.calls.list(status="in-progress", to="client:alice")] == [
        scenario.worker_call_sid
    ]
    assert customer.fetch().status == "in-progress"

    recording = customer.recordings.create(
        recording_channels="dual",
        recording_track="both",
        trim="do-not-trim",
        recording_status_callback="https://service.example/webhooks/recording-status",
        recording_status_callback_method="POST",
        recording_status_callback_event=["in-progress", "completed", "absent"],
    )
    assert (recording.channels, recording.status) == (2, "in-progress")
    world.clock.advance(20)
    paused = customer.recordings("Twilio.CURRENT").update(status="paused", pause_behavior="skip")
    assert paused.sid == recording.sid
    world.clock.advance(3)
    customer.recordings(recording.sid).update(status="in-progress")
    assert [r.sid for r in customer.recordings.list()] == [recording.sid]
    assert customer.recordings(recording.sid).fetch().status == "in-progress"
    world.clock.advance(10)
    stopped = customer.recordings(recording.sid).update(status="stopped")
    assert (stopped.status, stopped.duration) == ("completed", "30")

    today = datetime.datetime.fromtimestamp(world.clock.now(), datetime.UTC).date()
    listed = client.recordings.list(call_sid=scenario.customer_sid, date_created=today)
    assert [r.sid for r in listed] == [recording.sid]
    fetched = client.recordings(recording.sid).fetch()
    assert (
        fetched.media_url
        == f"https://api.twilio.com/2010-04-01/Accounts/{AC}/Recordings/{recording.sid}"
    )
    for suffix, params in ((".wav", {"RequestedChannels": 2}), (".mp3", None), ("", None)):
        answer = client.request("GET", fetched.media_url + suffix, params=params)
        assert answer.status_code == 200
    assert len(media) == 3

    worker_leg = client.calls(scenario.worker_call_sid)
    extra = worker_leg.recordings.create()
    worker_leg.recordings(extra.sid).delete()
    second = worker_leg.recordings.create(recording_channels="mono")
    world.clock.advance(2)
    worker_leg.recordings(second.sid).update(status="stopped")
    client.recordings(second.sid).delete()
    with pytest.raises(TwilioRestException) as missing:
        client.recordings(second.sid).fetch()
    assert missing.value.code == 20404

    conference = client.conferences(scenario.conference_sid)
    assert [c.sid for c in client.conferences.list(friendly_name=scenario.task_sid)] == [
        scenario.conference_sid
    ]
    assert conference.fetch().status == "in-progress"
    labels = sorted(p.label for p in conference.participants.list())
    assert labels == ["customer", "worker"]
    assert conference.participants(scenario.customer_sid).fetch().hold is False
    held = conference.participants(scenario.customer_sid).update(hold=True, muted=True)
    assert (held.hold, held.muted) == (True, True)

    ended = client.calls(scenario.ringing_sid).update(status="canceled")
    assert ended.status == "canceled"
    assert conference.update(status="completed").status == "completed"


def _drive_taskrouter(client: Client, scenario: Scenario) -> None:
    workspaces = client.taskrouter.v1.workspaces
    named = workspaces.list(friendly_name=scenario.world.workspace_name)
    assert [w.sid for w in named] == [defaults.WORKSPACE_SID]
    assert workspaces.list(friendly_name="No Such Workspace") == []
    workspace = workspaces(defaults.WORKSPACE_SID)
    assert workspace.fetch().sid == defaults.WORKSPACE_SID
    updated = workspace.update(
        event_callback_url="https://service.example/webhooks/taskrouter",
        events_filter="task.created,task.updated",
    )
    assert updated.event_callback_url == scenario.world.event_callback_url

    tasks = workspace.tasks.list(
        assignment_status=["assigned"],
        evaluate_task_attributes=f"call_sid == '{scenario.customer_sid}'",
        page_size=1,
    )
    assert [t.sid for t in tasks] == [scenario.task_sid]
    # The spec: task attributes "only be displayed in FETCH action"; null in a list.
    assert [t.attributes for t in tasks] == [None]
    task = workspace.tasks(scenario.task_sid)
    info = task.fetch_with_http_info()
    etag = info.headers["ETag"]
    attributes = json.loads(info.data.attributes)
    attributes["conversations"] = {"media": []}
    task.update(attributes=json.dumps(attributes), if_match=etag)
    with pytest.raises(TwilioRestException) as stale:
        task.update(attributes="{}", if_match=etag)
    assert (stale.value.status, stale.value.code) == (412, 20412)

    assert [r.sid for r in task.reservations.list()] == [scenario.reservation_sid]
    assert task.reservations(scenario.reservation_sid).fetch().reservation_status == "accepted"
    workers = workspace.workers.list(page_size=1)
    assert {w.sid for w in workers} == set(scenario.world.workers)
    assert {w.attributes for w in workers} == {None}
    worker = workspace.workers(scenario.worker_sid)
    assert worker.fetch().friendly_name == "alice"
    assert [r.sid for r in worker.reservations.list()] == [scenario.reservation_sid]
    assert worker.reservations(scenario.reservation_sid).fetch().task_sid == scenario.task_sid


def _drive_account_calls_and_conference_recordings(client: Client, scenario: Scenario) -> None:
    """The account, calls.create, and a conference's own recordings (Flex's Call Recording)."""
    world = scenario.world
    assert client.api.v2010.accounts(AC).fetch().status == "active"
    assert [a.sid for a in client.api.v2010.accounts.list(status="active")] == [AC]
    made = client.calls.create(
        to="+15005550199",
        from_="+15005550100",
        twiml="<Response><Pause length='60'/></Response>",
        status_callback="https://back-end.example/status",
        status_callback_event=["initiated", "ringing", "answered", "completed"],
        timeout=30,
        record=True,
        recording_channels="dual",
    )
    assert made.status == "queued" and made.direction == "outbound-api"
    call = world.calls[made.sid]
    assert (call.status_callback, call.status_callback_statuses) == (
        "https://back-end.example/status",
        frozenset({"initiated", "ringing", "in-progress"}) | TERMINAL_CALL_STATUSES,
    )
    with pytest.raises(TwilioRestException) as no_instructions:
        client.calls.create(to="+15005550199", from_="+15005550100")
    assert no_instructions.value.code == 21200

    task = world.tasks[scenario.task_sid]
    conference = world.create_conference(task, None, record_channels=2)
    for sid in (scenario.customer_sid, scenario.worker_call_sid):
        world.join_conference(conference, world.calls[sid], None)
    recordings = client.conferences(conference.sid).recordings
    (native,) = recordings.list()
    assert (native.channels, native.source, native.conference_sid) == (
        2,
        "Conference",
        conference.sid,
    )
    world.clock.advance(5)
    paused = recordings("Twilio.CURRENT").update(status="paused", pause_behavior="skip")
    assert (paused.sid, paused.status) == (native.sid, "paused")
    assert recordings(native.sid).fetch().status == "paused"
    listed = client.recordings.list(conference_sid=conference.sid)
    assert [r.sid for r in listed] == [native.sid]
    recordings(native.sid).update(status="in-progress")
    world.clock.advance(5)
    assert recordings(native.sid).update(status="stopped").status == "completed"
    recordings(native.sid).delete()
    assert recordings.list() == []


def _drive_taskrouter_config(client: Client, scenario: Scenario) -> None:
    """What a Flex back-end makes: queues, workflows, activities, tasks (tasks.create)."""
    workspace = client.taskrouter.v1.workspaces(defaults.WORKSPACE_SID)
    queue = workspace.task_queues.create(
        friendly_name="Spanish", target_workers="languages HAS 'es'", task_order="LIFO"
    )
    assert (queue.target_workers, queue.task_order) == ("languages HAS 'es'", "LIFO")
    assert [q.sid for q in workspace.task_queues.list(friendly_name="Spanish")] == [queue.sid]
    assert workspace.task_queues(queue.sid).fetch().friendly_name == "Spanish"
    with pytest.raises(TwilioRestException):
        workspace.task_queues.create(friendly_name="Spanish")
    configuration = {"task_routing": {"filters": [], "default_filter": {"queue": queue.sid}}}
    workflow = workspace.workflows.create(
        friendly_name="Spanish line", configuration=json.dumps(configuration)
    )
    assert json.loads(workflow.configuration) == configuration
    assert {w.sid for w in workspace.workflows.list()} == {scenario.workflow_sid, workflow.sid}
    assert workspace.workflows(workflow.sid).fetch().friendly_name == "Spanish line"
    activities = {a.friendly_name: a for a in workspace.activities.list()}
    assert set(activities) == {"Offline", "Available", "Unavailable", "Break"}
    assert [a.friendly_name for a in workspace.activities.list(available="true")] == ["Available"]
    lunch = workspace.activities.create(friendly_name="Lunch", available=False)
    assert workspace.activities(lunch.sid).fetch().available is False
    worker = workspace.workers(scenario.worker_sid).fetch()
    assert worker.activity_sid == activities[worker.activity_name].sid
    moved = workspace.workers(scenario.worker_sid).update(
        activity_sid=lunch.sid, attributes=json.dumps({"languages": ["es"]})
    )
    assert (moved.activity_name, json.loads(moved.attributes)) == ("Lunch", {"languages": ["es"]})
    made = workspace.tasks.create(
        workflow_sid=workflow.sid,
        attributes=json.dumps({"type": "callback", "name": "Ada"}),
        task_channel="voice",
        priority=5,
    )
    assert (made.assignment_status, made.priority, made.task_channel_unique_name) == (
        "pending",
        5,
        "voice",
    )
    assert json.loads(made.attributes) == {"type": "callback", "name": "Ada"}


def _drive_flex_events_iam(client: Client, scenario: Scenario) -> None:
    configuration = client.flex_api.v1.configuration().fetch()
    assert configuration.call_recording_enabled is False

    sink = client.events.v1.sinks.create(
        description="flexrec",
        sink_configuration={
            "destination": "https://service.example/webhooks/event-streams",
            "method": "POST",
            "batch_events": True,
        },
        sink_type="webhook",
    )
    assert [s.sid for s in client.events.v1.sinks.list()] == [sink.sid]
    assert client.events.v1.sinks(sink.sid).fetch().status == "active"
    subscription = client.events.v1.subscriptions.create(
        description="task events",
        sink_sid=sink.sid,
        types=[{"type": "com.twilio.taskrouter.task.updated", "schema_version": 1}],
    )
    assert [s.sid for s in client.events.v1.subscriptions.list()] == [subscription.sid]
    events = client.events.v1.subscriptions(subscription.sid).subscribed_events
    events.create(type="com.twilio.taskrouter.task.created")
    assert {e.type for e in events.list()} == {
        "com.twilio.taskrouter.task.updated",
        "com.twilio.taskrouter.task.created",
    }
    assert client.events.v1.subscriptions(subscription.sid).delete() is True
    assert list(client.events.v1.subscriptions.list()) == []

    token = issue_token(scenario.world, scenario.worker_sid, ttl_s=3600, roles=["agent"])
    answer = client.request(
        "POST",
        f"https://iam.twilio.com/v1/Accounts/{AC}/Tokens/validate",
        data={"token": token},
        headers={"Content-Type": "application/json"},
    )
    assert json.loads(answer.text)["valid"] is True


def test_every_served_route_conforms_to_twilio_openapi(
    sdk: tuple[Client, Conformance],
    scenario: Scenario,
    fake_media: list[Any],
) -> None:
    client, conformance = sdk
    _drive_voice(client, scenario, fake_media)
    _drive_taskrouter(client, scenario)
    _drive_taskrouter_config(client, scenario)
    _drive_account_calls_and_conference_recordings(client, scenario)
    _drive_flex_events_iam(client, scenario)

    assert conformance.problems == []
    missing = {(op.method, op.path) for op in OPERATIONS} - conformance.covered
    assert missing == set()
    assert conformance.validated >= 40


def test_public_base_url_makes_links_point_at_the_simulator(scenario: Scenario) -> None:
    world = scenario.world
    queue, workflow = world.queues[scenario.queue_sid], world.workflows[scenario.workflow_sid]
    world.create_task({"n": 1}, queue, workflow)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    auth = (AC, defaults.AUTH_TOKEN)
    with serve_app(create_sim_app(world, public_base_url=base), port=port) as served:
        assert served == base
        first = httpx.get(
            f"{base}/v1/Workspaces/{defaults.WORKSPACE_SID}/Tasks?PageSize=1", auth=auth
        )
        next_url = first.json()["meta"]["next_page_url"]
        assert next_url.startswith(f"{base}/v1/Workspaces/")
        second = httpx.get(next_url, auth=auth).json()["tasks"]
        assert [t["sid"] for t in first.json()["tasks"] + second] == list(world.tasks)
        assert second[0]["url"].startswith(base)


def test_the_schema_checks_reject_what_twilio_would_not_send(scenario: Scenario) -> None:
    from flexsim.api.voice_views import call_view

    validator = response_validator(
        "api_v2010", "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json", "GET", 200
    )
    assert validator is not None
    good = call_view(scenario.world.calls[scenario.customer_sid], AC)
    assert list(validator.iter_errors(good)) == []
    broken = [
        {**good, "date_created": "2026-11-18T11:06:45Z"},  # ISO where RFC 2822 is due
        {**good, "status": "answered"},
        {**good, "from_": good["from"]},  # an undocumented key
        {k: v for k, v in good.items() if k != "uri"},  # a documented key missing
        {**good, "sid": "CA123"},
    ]
    for body in broken:
        assert list(validator.iter_errors(body)) != [], body
