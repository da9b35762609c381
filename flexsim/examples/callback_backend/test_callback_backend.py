"""The callback back-end against flexsim: the official SDK, real HTTP callbacks, signed.

pytest loads flexsim's fixtures on its own (`flexsim`, a running simulator): each test serves
the back-end on loopback, tells the simulator how each customer's phone behaves, jumps time
ahead and reads what the back-end made of Twilio's callbacks.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from app import Settings, create_app

from flexsim import SimRunner, serve_app
from flexsim.testing import sdk_client


@pytest.fixture
def backend(flexsim: SimRunner) -> Iterator[tuple[str, Any, Settings]]:
    workflow = flexsim.arrange.workflow("Callbacks")
    client = sdk_client(flexsim)
    settings = Settings(
        public_url="",  # known once served
        auth_token=flexsim.config.auth_token,
        caller_id="+15005550006",
        workspace_sid=flexsim.workspace_sid,
        workflow_sid=workflow,
    )
    with serve_app(create_app(client, settings)) as url:
        settings.public_url = url
        yield url, client, settings
    client.http_client.close()


def _settle(sim: SimRunner, url: str, callback_id: int, until: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        shown = httpx.get(f"{url}/callbacks/{callback_id}").json()
        if shown["state"] == until or time.monotonic() > deadline:
            return shown
        sim.wait_idle_blocking(timeout_s=1)
        time.sleep(0.05)


def test_an_answered_callback_becomes_a_flex_task_and_its_recording_is_kept(
    flexsim: SimRunner, backend: tuple[str, Any, Settings]
) -> None:
    url, client, settings = backend
    flexsim.arrange.callee("+15551230001", outcome="answer", ring_s=5, talk_s=90)
    made = httpx.post(f"{url}/callbacks", json={"to": "+15551230001", "name": "Ada"}).json()
    flexsim.advance(6)  # it rings, the customer answers
    shown = _settle(flexsim, url, made["id"], "connected")
    task = client.taskrouter.v1.workspaces(settings.workspace_sid).tasks(shown["task_sid"]).fetch()
    assert json.loads(task.attributes) == {
        "type": "callback",
        "name": "Ada",
        "call_sid": made["call_sid"],
        "direction": "outbound",
        "to": "+15551230001",
    }
    assert task.workflow_sid == settings.workflow_sid
    flexsim.advance(91)  # the customer hangs up; the recording completes
    shown = _settle(flexsim, url, made["id"], "done")
    assert shown["outcomes"] == {made["call_sid"]: "completed"}
    recording = client.recordings(shown["recording_sid"]).fetch()
    assert (recording.call_sid, recording.channels, recording.status) == (
        made["call_sid"],
        2,
        "completed",
    )


def test_a_busy_line_is_tried_again_and_given_up_after_three_attempts(
    flexsim: SimRunner, backend: tuple[str, Any, Settings]
) -> None:
    url, client, _ = backend
    flexsim.arrange.callee("+15551230002", outcome="busy")
    made = httpx.post(f"{url}/callbacks", json={"to": "+15551230002"}).json()
    for _ in range(3):
        flexsim.advance(5)  # rings briefly, busy; the back-end dials again
        flexsim.wait_idle_blocking(timeout_s=5)
    shown = _settle(flexsim, url, made["id"], "gave-up")
    assert shown["state"] == "gave-up"
    assert len(shown["attempts"]) == 3
    assert set(shown["outcomes"].values()) == {"busy"}
    assert {client.calls(sid).fetch().status for sid in shown["attempts"]} == {"busy"}
    assert shown["task_sid"] is None


def test_a_callback_not_signed_by_twilio_is_refused(backend: tuple[str, Any, Settings]) -> None:
    url, _, _ = backend
    forged = httpx.post(f"{url}/twilio/call-status", data={"CallSid": "CA1", "CallStatus": "busy"})
    assert forged.status_code == 403
