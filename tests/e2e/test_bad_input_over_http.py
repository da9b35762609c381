"""End to end: bad input to the running service gets a clear 4xx and changes nothing.

The service runs as its own process against the simulator; requests go over real HTTP.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from flexrec.demo.service_process import ServiceProcess, service_env
from flexsim import Conversation, SimConfig, SimRunner, free_port, twilio_signature

pytestmark = pytest.mark.e2e


@dataclass
class Live:
    """A simulator and the service, with one conversation in progress."""

    sim: SimRunner
    service: ServiceProcess
    admin: dict[str, str]
    conversation: Conversation


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    workdir: Path = tmp_path_factory.mktemp("bad-input")
    port = free_port()
    config = SimConfig(
        port=0,
        agents=3,
        calls=1,
        scale=1.0,
        seed=4,
        talk_time_median_s=600.0,
        service_url=f"http://127.0.0.1:{port}",
        start_traffic=False,
        scenario_weights={"basic": 1.0},
        inbound_share=1.0,
    )
    admin_token = secrets.token_urlsafe(16)
    with SimRunner(config) as sim:
        service = ServiceProcess(
            service_env(sim, workdir, port, admin_token), port, workdir / "service.log"
        )
        service.start()
        started = threading.Event()
        seen: list[Conversation] = []

        def on_start(conversation: Conversation) -> None:
            seen.append(conversation)
            started.set()

        sim.on_conversation(on_start)
        sim.start_traffic()
        try:
            assert started.wait(60), "no conversation started"
            yield Live(sim, service, {"Authorization": f"Bearer {admin_token}"}, seen[0])
        finally:
            service.stop()


def _customer_recordings(live: Live) -> list[str]:
    return [r.sid for r in live.sim.recordings() if r.party == "customer"]


def _status(sim: SimRunner, recording_sid: str) -> str | None:
    recording = sim.recording(recording_sid)
    return recording.status if recording else None


def _wait_recorded(live: Live) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = _customer_recordings(live)
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError("the live call was never recorded")


def _tasks(live: Live) -> list[dict[str, object]]:
    response = httpx.get(f"{live.service.url}/api/admin/tasks", headers=live.admin, timeout=10)
    assert response.status_code == 200
    body = response.json()
    return list(body["items"])


# What a forged task.created could change: a task row that should not exist, or a live task's
# customer leg, recording or policy decision. Timestamps are left out: the live call's own
# follow-ups (its link write's echo, status callbacks) still touch its row at any moment.
_KEPT = ("sid", "direction", "customer_call_sid", "recording_sid", "policy_decision")


def _decisions(live: Live) -> list[tuple[object, ...]]:
    return sorted(tuple(row.get(name) for name in _KEPT) for row in _tasks(live))


def _wait_linked(live: Live, recording_sid: str) -> None:
    """Until the service's own row names the recording the simulator holds (not a sleep)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if any(row.get("recording_sid") == recording_sid for row in _tasks(live)):
            return
        time.sleep(0.1)
    raise AssertionError("the service never recorded the recording it started")


def test_forged_and_unsigned_webhooks_are_refused_and_change_nothing(live: Live) -> None:
    _wait_linked(live, _wait_recorded(live))
    before = _decisions(live)
    url = f"{live.service.url}/webhooks/taskrouter"
    form = {
        "EventType": "task.created",
        "TaskSid": "WT" + "ab" * 16,
        "TaskAttributes": '{"call_sid": "CA' + "cd" * 16 + '", "direction": "inbound"}',
        "AccountSid": live.sim.config.account_sid,
    }
    unsigned = httpx.post(url, data=form, timeout=10)
    forged = httpx.post(
        url,
        data=form,
        headers={"X-Twilio-Signature": twilio_signature("not-the-token", url, form)},
        timeout=10,
    )
    assert unsigned.status_code == 403
    assert forged.status_code == 403
    assert _decisions(live) == before
    assert all(row["sid"] != form["TaskSid"] for row in _tasks(live))


def test_a_signed_but_malformed_body_is_a_400(live: Live) -> None:
    url = f"{live.service.url}/webhooks/taskrouter"
    form = {"EventType": "task.created", "TaskAttributes": "{not json"}
    signature = twilio_signature(live.sim.config.auth_token, url, form)
    response = httpx.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=10)
    assert response.status_code == 400
    assert "error" in response.json()


def test_agent_api_refuses_unknown_task_expired_and_foreign_tokens(live: Live) -> None:
    recording_sid = _wait_recorded(live)
    sim, task_sid, worker_sid = live.sim, live.conversation.task_sid, live.conversation.worker_sid
    base = f"{live.service.url}/api/agent/tasks"

    own = sim.agent_token(worker_sid)
    unknown = httpx.post(
        f"{base}/WT{'00' * 16}/recording/pause",
        headers={"Authorization": f"Bearer {own}"},
        timeout=10,
    )
    assert unknown.status_code == 404

    other = next(sid for sid in sim.agent_sids() if sid != worker_sid)
    foreign = sim.agent_token(other)
    refused = httpx.post(
        f"{base}/{task_sid}/recording/pause",
        headers={"Authorization": f"Bearer {foreign}"},
        timeout=10,
    )
    assert refused.status_code == 403

    expired = sim.agent_token(worker_sid, ttl_s=0.5)
    time.sleep(1.0)  # the simulator's clock runs at real speed here
    late = httpx.post(
        f"{base}/{task_sid}/recording/pause",
        headers={"Authorization": f"Bearer {expired}"},
        timeout=10,
    )
    assert late.status_code == 401

    forged = httpx.post(
        f"{base}/{task_sid}/recording/pause",
        headers={"Authorization": "Bearer flex.forged.token"},
        timeout=10,
    )
    assert forged.status_code == 401

    # None of it touched the recording.
    untouched = sim.recording(recording_sid)
    assert untouched is not None and untouched.status == "in-progress" and untouched.pauses == 0

    # The agent who holds the task can pause and resume it.
    paused = httpx.post(
        f"{base}/{task_sid}/recording/pause",
        headers={"Authorization": f"Bearer {own}"},
        timeout=10,
    )
    assert paused.status_code == 200
    assert _status(sim, recording_sid) == "paused"
    resumed = httpx.post(
        f"{base}/{task_sid}/recording/resume",
        headers={"Authorization": f"Bearer {own}"},
        timeout=10,
    )
    assert resumed.status_code == 200
    assert _status(sim, recording_sid) == "in-progress"
