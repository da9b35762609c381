"""The control API: a test arranges exactly the world it needs on a running simulator (Python
or HTTP), and the official SDK then sees it as Twilio would show it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from flexsim import SimRunner
from flexsim.arrange import ArrangeError


def test_arranging_an_answered_flex_call_that_the_sdk_then_sees(
    flexsim: SimRunner, flexsim_client: Any
) -> None:
    arrange = flexsim.arrange
    agent = arrange.worker("ada", {"skills": ["es"]})
    customer = arrange.call(from_="+15550001111", to="+15005550006")
    leg = arrange.call(from_="+15005550006", to="client:ada", worker_sid=agent)
    task = arrange.task(
        {"call_sid": customer.sid, "direction": "inbound", "from": customer.from_},
        status="assigned",
        worker_sid=agent,
    )
    conference = arrange.conference(
        task.sid, {customer.sid: "customer", leg.sid: "worker"}, record_channels=2
    )
    studio = arrange.recording(customer.sid, channels=1)

    assert (customer.status, leg.party, task.assignment_status) == (
        "in-progress",
        "worker",
        "assigned",
    )
    client = flexsim_client
    assert client.calls(customer.sid).fetch().status == "in-progress"
    workspace = client.taskrouter.v1.workspaces(flexsim.workspace_sid)
    fetched = workspace.tasks(task.sid).fetch()
    assert json.loads(fetched.attributes)["call_sid"] == customer.sid
    (reservation,) = workspace.tasks(task.sid).reservations.list()
    assert (reservation.worker_sid, reservation.reservation_status) == (agent, "accepted")
    labels = {p.call_sid: p.label for p in client.conferences(conference.sid).participants.list()}
    assert labels == {customer.sid: "customer", leg.sid: "worker"}
    (native,) = client.conferences(conference.sid).recordings.list()
    assert (native.sid, native.channels) == (conference.recording_sid, 2)
    assert {r.sid for r in client.calls(customer.sid).recordings.list()} == {
        studio.sid,
        native.sid,
    }
    assert studio.channels == 1 and flexsim.recording(studio.sid) == studio

    # the List Tasks shape: null as the spec says, or the attributes when arranged so
    assert [t.attributes for t in workspace.tasks.list()] == [None]
    arrange.list_tasks_shape("attributes")
    assert json.loads(workspace.tasks.list()[0].attributes)["call_sid"] == customer.sid

    done = arrange.set_task_status(task.sid, "completed", reason="resolved")
    assert done.assignment_status == "completed"
    assert workspace.tasks(task.sid).reservations(reservation.sid).fetch().reservation_status == (
        "completed"
    )
    with pytest.raises(ArrangeError):
        arrange.set_task_status(task.sid, "assigned")
    with pytest.raises(ArrangeError):
        arrange.recording("CA" + "0" * 32)


def test_a_callee_and_jumping_time_drive_a_call_the_sdk_made(
    flexsim: SimRunner, flexsim_client: Any
) -> None:
    flexsim.arrange.callee("+15550002222", outcome="answer", ring_s=5, talk_s=30)
    made = flexsim_client.calls.create(
        to="+15550002222", from_="+15005550006", twiml="<Response><Pause/></Response>"
    )
    flexsim.advance(6)
    assert flexsim_client.calls(made.sid).fetch().status == "in-progress"
    flexsim.advance(31)
    assert flexsim_client.calls(made.sid).fetch().status == "completed"
    assert flexsim.call_status(made.sid) == "completed"


def test_the_same_over_http(flexsim: SimRunner) -> None:
    with httpx.Client(base_url=f"{flexsim.base_url}/_sim", timeout=10) as sim:
        agent = sim.post("/arrange/workers", json={"name": "bo"}).json()["sid"]
        call = sim.post(
            "/arrange/calls", json={"from": "+15550003333", "to": "+15005550006"}
        ).json()
        assert (call["from"], call["status"]) == ("+15550003333", "in-progress")
        task = sim.post(
            "/arrange/tasks",
            json={"attributes": {"call_sid": call["sid"]}, "status": "reserved",
                  "worker_sid": agent},
        ).json()  # fmt: skip
        assert task["assignment_status"] == "reserved"
        moved = sim.post(f"/arrange/tasks/{task['sid']}/status", json={"status": "assigned"})
        assert moved.json()["assignment_status"] == "assigned"
        written = sim.post(
            f"/arrange/tasks/{task['sid']}/attributes", json={"attributes": {"crm": 7}}
        ).json()
        assert (written["attributes"], written["revision"]) == ({"crm": 7}, task["revision"] + 2)
        ended = sim.post(f"/arrange/calls/{call['sid']}/status", json={"status": "completed"})
        assert ended.json()["status"] == "completed"
        assert (
            sim.post("/arrange/calls", json={"from": "+1", "to": "+2", "status": "x"}).status_code
            == 400
        )
        assert sim.post("/arrange/tasks", json={"attributes": {}, "nope": 1}).status_code == 400
        assert sim.post("/arrange/list-tasks-shape", json={"shape": "attributes"}).json() == {}
        assert sim.post("/advance", json={"seconds": 5}).status_code == 200
        assert sim.post("/advance", json={"seconds": -1}).status_code == 400
