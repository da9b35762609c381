"""TaskRouter, Flex and Event Streams behaviour of the simulator (ETag, filters, sinks)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import httpx

from flexsim import defaults
from flexsim.world import WorldEvent

if TYPE_CHECKING:
    from sim_api_support import Scenario

WS = f"/v1/Workspaces/{defaults.WORKSPACE_SID}"


def test_task_etag_is_the_revision_and_a_stale_if_match_is_412(
    api: httpx.Client, scenario: Scenario
) -> None:
    url = f"{WS}/Tasks/{scenario.task_sid}"
    fetched = api.get(url)
    etag = fetched.headers["ETag"]
    assert etag == str(scenario.world.tasks[scenario.task_sid].revision)
    assert json.loads(fetched.json()["attributes"])["call_sid"] == scenario.customer_sid

    updated = api.post(url, data={"Attributes": json.dumps({"v": 1})}, headers={"If-Match": etag})
    assert updated.status_code == 200
    assert updated.headers["ETag"] == str(int(etag) + 1)
    assert updated.json()["attributes"] == '{"v": 1}'

    stale = api.post(url, data={"Attributes": json.dumps({"v": 2})}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert stale.json()["code"] == 20412
    assert scenario.world.tasks[scenario.task_sid].attributes == {"v": 1}

    quoted = api.post(
        url,
        data={"Attributes": json.dumps({"v": 3})},
        headers={"If-Match": f'"{updated.headers["ETag"]}"'},
    )
    assert quoted.status_code == 200
    unguarded = api.post(url, data={"Attributes": json.dumps({"v": 4})})
    assert unguarded.status_code == 200
    assert scenario.world.tasks[scenario.task_sid].attributes == {"v": 4}


def test_task_attribute_update_announces_task_updated(
    api: httpx.Client, scenario: Scenario
) -> None:
    events: list[WorldEvent] = []
    scenario.world.subscribe(events.append)
    api.post(f"{WS}/Tasks/{scenario.task_sid}", data={"Attributes": '{"a": 1}'})
    assert [(e.kind, e.name) for e in events] == [("taskrouter", "task.updated")]


def test_bad_attributes_and_illegal_transitions_are_400_and_change_nothing(
    api: httpx.Client, scenario: Scenario
) -> None:
    url = f"{WS}/Tasks/{scenario.task_sid}"
    task = scenario.world.tasks[scenario.task_sid]
    revision = task.revision
    for form in ({"Attributes": "{not json"}, {"Attributes": "[1]"}, {"AssignmentStatus": "x"}):
        response = api.post(url, data=form)
        assert response.status_code == 400, form
        assert response.json()["code"] == 20001
    illegal = api.post(url, data={"AssignmentStatus": "pending"})
    assert illegal.status_code == 400
    assert (task.revision, task.assignment_status) == (revision, "assigned")


def test_task_wraps_up_then_completes_with_a_reason(api: httpx.Client, scenario: Scenario) -> None:
    url = f"{WS}/Tasks/{scenario.task_sid}"
    assert api.post(url, data={"AssignmentStatus": "wrapping"}).json()["assignment_status"] == (
        "wrapping"
    )
    done = api.post(url, data={"AssignmentStatus": "completed", "Reason": "call ended"}).json()
    assert (done["assignment_status"], done["reason"]) == ("completed", "call ended")


def test_tasks_filter_by_status_and_attribute_expression(
    api: httpx.Client, scenario: Scenario
) -> None:
    world = scenario.world
    queue, workflow = world.queues[scenario.queue_sid], world.workflows[scenario.workflow_sid]
    other = world.create_task(
        {"call_sid": "CA" + "0" * 32, "conference": {"sid": "CF1"}}, queue, workflow
    )

    def sids(**params: str) -> list[str]:
        response = api.get(f"{WS}/Tasks", params=params)
        assert response.status_code == 200, response.text
        return [t["sid"] for t in response.json()["tasks"]]

    assert sids(AssignmentStatus="pending") == [other.sid]
    assert sids(AssignmentStatus="pending,assigned") == [scenario.task_sid, other.sid]
    assert sids(EvaluateTaskAttributes=f"call_sid == '{scenario.customer_sid}'") == [
        scenario.task_sid
    ]
    assert sids(EvaluateTaskAttributes='conference.sid == "CF1" AND direction != "inbound"') == [
        other.sid
    ]
    assert sids(Ordering="DateCreated:desc") == [other.sid, scenario.task_sid]
    unsupported = api.get(f"{WS}/Tasks", params={"EvaluateTaskAttributes": "a IN ['x']"})
    assert unsupported.status_code == 400


def test_tasks_list_pages_with_meta_links(api: httpx.Client, scenario: Scenario) -> None:
    world = scenario.world
    queue, workflow = world.queues[scenario.queue_sid], world.workflows[scenario.workflow_sid]
    for n in range(4):
        world.create_task({"n": n}, queue, workflow)
    seen: list[str] = []
    url: str | None = f"{WS}/Tasks?PageSize=2"
    while url:
        body = api.get(url).json()
        assert body["meta"]["key"] == "tasks"
        seen += [t["sid"] for t in body["tasks"]]
        next_url = body["meta"]["next_page_url"]
        url = next_url.removeprefix("https://taskrouter.twilio.com") if next_url else None
    assert seen == list(world.tasks)


def test_reservations_under_task_and_worker(api: httpx.Client, scenario: Scenario) -> None:
    by_task = api.get(f"{WS}/Tasks/{scenario.task_sid}/Reservations").json()["reservations"]
    by_worker = api.get(f"{WS}/Workers/{scenario.worker_sid}/Reservations").json()
    other = api.get(f"{WS}/Workers/{scenario.other_worker_sid}/Reservations").json()
    assert [(r["sid"], r["reservation_status"]) for r in by_task] == [
        (scenario.reservation_sid, "accepted")
    ]
    assert [r["sid"] for r in by_worker["reservations"]] == [scenario.reservation_sid]
    assert other["reservations"] == []
    wrong_owner = api.get(
        f"{WS}/Workers/{scenario.other_worker_sid}/Reservations/{scenario.reservation_sid}"
    )
    assert wrong_owner.status_code == 404


def test_workspace_update_sets_the_event_callback(api: httpx.Client, scenario: Scenario) -> None:
    body = api.post(
        WS,
        data={
            "EventCallbackUrl": "https://service.example/webhooks/taskrouter",
            "EventsFilter": "task.created,task.updated",
        },
    ).json()
    assert scenario.world.event_callback_url == "https://service.example/webhooks/taskrouter"
    assert scenario.world.events_filter == "task.created,task.updated"
    assert body["event_callback_url"] == scenario.world.event_callback_url
    assert api.post(WS, data={"EventCallbackUrl": "ftp://nowhere"}).status_code == 400


def test_flex_configuration_reports_the_recording_toggle(
    api: httpx.Client, scenario: Scenario
) -> None:
    assert api.get("/v1/Configuration").json()["call_recording_enabled"] is False
    scenario.world.flex_configuration["call_recording_enabled"] = True
    body = api.get("/v1/Configuration").json()
    assert body["call_recording_enabled"] is True
    assert body["taskrouter_workspace_sid"] == defaults.WORKSPACE_SID


def test_sinks_and_subscriptions_land_on_the_world(api: httpx.Client, scenario: Scenario) -> None:
    sink = api.post(
        "/v1/Sinks",
        data={
            "Description": "flexrec",
            "SinkType": "webhook",
            "SinkConfiguration": json.dumps(
                {"destination": "https://service.example/webhooks/event-streams", "method": "POST"}
            ),
        },
    )
    assert sink.status_code == 201
    sink_sid = sink.json()["sid"]
    subscription = api.post(
        "/v1/Subscriptions",
        data={
            "Description": "task events",
            "SinkSid": sink_sid,
            "Types": [
                json.dumps({"type": "com.twilio.taskrouter.task.created", "schema_version": 1}),
                json.dumps({"type": "com.twilio.taskrouter.task.updated"}),
            ],
        },
    )
    assert subscription.status_code == 201
    world = scenario.world
    assert [(s["sid"], s["destination"], s["sink_type"]) for s in world.event_stream_sinks] == [
        (sink_sid, "https://service.example/webhooks/event-streams", "webhook")
    ]
    assert world.event_subscriptions[0]["types"] == [
        {"type": "com.twilio.taskrouter.task.created", "schema_version": 1},
        {"type": "com.twilio.taskrouter.task.updated", "schema_version": 1},
    ]
    in_use = api.get("/v1/Sinks", params={"InUse": "true"}).json()["sinks"]
    assert [s["sid"] for s in in_use] == [sink_sid]
    orphan = api.post(
        "/v1/Subscriptions",
        data={"Description": "x", "SinkSid": "DG" + "1" * 32, "Types": '{"type": "a"}'},
    )
    assert orphan.status_code == 400
    assert len(world.event_subscriptions) == 1


def test_priority_change_is_a_new_revision_announced_as_task_updated(
    api: httpx.Client, scenario: Scenario
) -> None:
    events: list[WorldEvent] = []
    scenario.world.subscribe(events.append)
    before = api.get(f"{WS}/Tasks/{scenario.task_sid}").headers["ETag"]
    after = api.post(f"{WS}/Tasks/{scenario.task_sid}", data={"Priority": "5"})
    assert after.json()["priority"] == 5
    assert int(after.headers["ETag"]) == int(before) + 1
    assert [e.name for e in events] == ["task.updated"]
