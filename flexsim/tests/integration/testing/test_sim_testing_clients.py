"""flexsim.testing: the official SDK against the simulator in process, over HTTP, async, and
through the pytest fixtures pytest loads on its own."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException

from flexsim import SimClock, SimRunner, World, create_sim_app, defaults, serve_app
from flexsim.testing import AppTransport, AsyncSimHttpClient, SimHttpClient, rebase, sdk_client


def _world() -> tuple[World, Any, Any]:
    world = World(SimClock(scale=0, start_epoch=1_800_000_000.0))
    queue, workflow = world.add_queue("Everyone"), world.add_workflow("Assign to Anyone")
    world.add_worker("alice", {"contact_uri": "client:alice"})
    task = world.create_task({"type": "inbound", "name": "Ada"}, queue, workflow)
    call = world.create_call(
        from_="+15005550001", to="+15005550100", direction="inbound", party="customer"
    )
    world.set_call_status(call, "in-progress")
    return world, task, call


def test_rebase_moves_every_twilio_host_and_nothing_else() -> None:
    origin = "http://127.0.0.1:9/sim"
    for host in ("api", "taskrouter", "flex-api", "iam", "events"):
        assert rebase(f"https://{host}.twilio.com/v1/X?a=1", origin) == (
            "http://127.0.0.1:9/sim/v1/X?a=1"
        )
    assert rebase("https://example.com/v1/X", origin) == "https://example.com/v1/X"


def test_the_sdk_in_process_reads_writes_and_keeps_if_match() -> None:
    world, task, call = _world()
    client = sdk_client(create_sim_app(world))
    workspace = client.taskrouter.v1.workspaces(world.workspace_sid)
    assert [w.friendly_name for w in workspace.workers.list()] == ["alice"]
    fetched = workspace.tasks(task.sid).fetch_with_http_info()
    etag = fetched.headers["ETag"]  # Twilio's casing, as the SDK's own client hands it on
    assert etag == str(task.revision)
    attributes = json.loads(fetched.data.attributes)
    workspace.tasks(task.sid).update(attributes=json.dumps({**attributes, "crm": 1}), if_match=etag)
    with pytest.raises(TwilioRestException) as stale:
        workspace.tasks(task.sid).update(attributes="{}", if_match=etag)
    assert stale.value.status == 412
    assert world.tasks[task.sid].attributes["crm"] == 1
    # a list parameter reaches the simulator as repeated fields
    recording = client.calls(call.sid).recordings.create(
        recording_channels="dual",
        recording_status_callback="https://example.com/rs",
        recording_status_callback_event=["in-progress", "completed absent"],
    )
    assert world.recordings[recording.sid].status_callback_events == (
        "in-progress",
        "completed",
        "absent",
    )
    http = client.http_client
    assert isinstance(http, SimHttpClient)
    assert (
        "POST",
        f"/2010-04-01/Accounts/{defaults.ACCOUNT_SID}/Calls/{call.sid}/Recordings.json",
    ) in http.history


def test_the_sdk_pages_through_a_list_with_its_filters_and_page_size() -> None:
    # The SDK follows `next_page_uri`, whose query holds the filters and PageSize: the adapter
    # once dropped it, so page 2 was page 0 again at the default size, every leg and no filter.
    world, _task, _call = _world()
    for n in range(6):
        leg = world.create_call(
            from_=f"+1500555020{n}", to="+15005550100", direction="inbound", party="customer"
        )
        world.set_call_status(leg, "in-progress")
        world.set_call_status(leg, "completed" if n % 2 else "in-progress")
    client = sdk_client(create_sim_app(world))
    listed = client.calls.list(status="in-progress", page_size=2)
    in_progress = sorted(c.sid for c in world.calls.values() if c.status == "in-progress")
    assert sorted(c.sid for c in listed) == in_progress and len(in_progress) == 4
    pages = [client.calls.page(status="in-progress", page_size=2)]
    while (following := pages[-1].next_page()) is not None:
        pages.append(following)
    assert [len(list(page)) for page in pages] == [2, 2]


def test_the_sdk_over_http_with_an_api_key_and_a_download() -> None:
    world, _, call = _world()
    recording = world.start_recording(call, channels=2)
    world.clock.advance(5)
    world.finish_recording(recording)
    with serve_app(create_sim_app(world)) as base_url:
        client = sdk_client(
            base_url, api_key=defaults.API_KEY_SID, api_secret=defaults.API_KEY_SECRET
        )
        assert client.recordings(recording.sid).fetch().status == "completed"
        http = client.http_client
        status, media = http.download(
            f"https://api.twilio.com/2010-04-01/Accounts/{defaults.ACCOUNT_SID}"
            f"/Recordings/{recording.sid}.wav",
            {},
            (defaults.ACCOUNT_SID, defaults.AUTH_TOKEN),
        )
        bad = sdk_client(base_url, auth_token="wrong")
        try:
            with pytest.raises(TwilioRestException) as refused:
                bad.calls(call.sid).fetch()
        finally:
            http.close()
            bad.http_client.close()
    assert status == 200 and media[:4] == b"RIFF"
    assert refused.value.status == 401


def test_the_async_sdk_in_process() -> None:
    world, task, _ = _world()

    async def run() -> list[str]:
        client = sdk_client(create_sim_app(world), asynchronous=True)
        assert isinstance(client.http_client, AsyncSimHttpClient)
        calls = await client.calls.list_async()
        fetched = (
            await client.taskrouter.v1.workspaces(world.workspace_sid).tasks(task.sid).fetch_async()
        )
        return [*(c.sid for c in calls), fetched.sid]

    assert asyncio.run(run()) == [*world.calls, task.sid]


def test_an_httpx_transport_into_the_app_serves_any_client() -> None:
    world, _, _ = _world()
    with httpx.Client(transport=AppTransport(create_sim_app(world))) as http:
        answer = http.get(
            f"https://taskrouter.twilio.com/v1/Workspaces/{world.workspace_sid}",
            auth=(defaults.ACCOUNT_SID, defaults.AUTH_TOKEN),
        )
    assert answer.status_code == 200
    assert answer.json()["sid"] == world.workspace_sid


def test_the_pytest_fixtures_give_a_running_simulator_and_its_client(
    flexsim: SimRunner, flexsim_client: Any
) -> None:
    assert flexsim.stats().generated == 0  # no traffic of its own
    workers = flexsim_client.taskrouter.v1.workspaces(flexsim.workspace_sid).workers.list()
    assert {w.sid for w in workers} == set(flexsim.agent_sids())
