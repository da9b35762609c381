"""The one gateway, over the service's own pooled transport, against the simulator's Twilio
paths: the lookups (a task's conference, its participants, their calls), the archive's calls,
and setup's workspace and Event Streams calls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from twilio.rest import Client

from flexrec.twilio.client import PooledHttpClient
from flexrec.twilio.errors import GatewayError
from flexrec.twilio.gateway import SdkGateway
from flexrec.webhooks.events import TASKROUTER_EVENTS_USED
from flexsim import World, create_sim_app, defaults, serve_app


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def gateway(world: World) -> Iterator[SdkGateway]:
    with serve_app(create_sim_app(world)) as base_url:
        http = PooledHttpClient(base_url, timeout=10)
        client = Client(defaults.API_KEY_SID, defaults.API_KEY_SECRET, defaults.ACCOUNT_SID,
                        http_client=http)  # fmt: skip
        yield SdkGateway(client, defaults.ACCOUNT_SID, world.workspace_sid)
        http.close()


def _outbound_call(world: World) -> Any:
    """An answered outbound Flex call: a task, its conference (named after the task), the
    agent's `client:` leg and the customer's leg, both unlabelled."""
    task = world.create_task(
        {"direction": "outbound", "outbound_to": "+15550001111"},
        world.add_queue("Everyone"),
        world.add_workflow("Assign to Anyone"),
    )
    conference = world.create_conference(task, None)
    agent = world.create_call(
        from_="+15550002222", to="client:alice", direction="outbound-api", party="worker"
    )
    customer = world.create_call(
        from_="+15550002222", to="+15550001111", direction="outbound-api", party="customer"
    )
    for call in (agent, customer):
        world.set_call_status(call, "in-progress")
        world.join_conference(conference, call, None)
    return task, conference, agent, customer


def test_lookups_find_a_tasks_conference_participants_and_calls(
    world: World, gateway: SdkGateway
) -> None:
    task, conference, agent, customer = _outbound_call(world)
    found = gateway.list_conferences(task.sid, status="in-progress")
    assert [(c.sid, c.friendly_name) for c in found] == [(conference.sid, task.sid)]
    assert gateway.list_conferences(task.sid, status="completed") == []
    legs = {p.call_sid: p for p in gateway.list_participants(conference.sid)}
    assert set(legs) == {agent.sid, customer.sid}
    fetched = gateway.fetch_call(agent.sid)
    assert (fetched.to, fetched.status, fetched.ended) == ("client:alice", "in-progress", False)
    assert gateway.fetch_call(customer.sid).to == "+15550001111"
    # A listed task says nothing of its attributes; the fetched one does.
    (listed,) = gateway.list_tasks(["pending"])
    assert listed.attributes is None
    assert gateway.fetch_task(task.sid).attributes == task.attributes


def test_setup_calls_set_the_events_filter_and_an_event_streams_sink(
    world: World, gateway: SdkGateway
) -> None:
    (workspace,) = gateway.list_workspaces(world.workspace_name)
    assert gateway.list_workspaces("No Such Workspace") == []
    wanted = ",".join(TASKROUTER_EVENTS_USED)
    updated = gateway.update_workspace(
        workspace.sid,
        event_callback_url="https://rec.example.com/webhooks/taskrouter",
        events_filter=wanted,
    )
    assert (updated.event_callback_url, updated.events_filter) == (
        "https://rec.example.com/webhooks/taskrouter",
        wanted,
    )
    assert world.events_filter == wanted
    sink = gateway.create_webhook_sink("https://rec.example.com/webhooks/event-streams", "flexrec")
    assert [s.sid for s in gateway.list_sinks()] == [sink.sid]
    types = [f"com.twilio.taskrouter.{t}" for t in TASKROUTER_EVENTS_USED[:2]]
    subscription = gateway.create_subscription(sink.sid, "flexrec", types)
    assert [s.sid for s in gateway.list_subscriptions(sink.sid)] == [subscription.sid]
    assert gateway.list_subscribed_event_types(subscription.sid) == set(types)
    gateway.add_subscribed_event(subscription.sid, "com.twilio.taskrouter.task.completed")
    assert "com.twilio.taskrouter.task.completed" in gateway.list_subscribed_event_types(
        subscription.sid
    )
    assert gateway.fetch_flex_configuration()["call_recording_enabled"] is False


def test_a_missing_recording_is_a_not_found_gateway_error(gateway: SdkGateway) -> None:
    with pytest.raises(GatewayError) as caught:
        gateway.fetch_recording("RE" + "0" * 32)
    assert caught.value.not_found and not caught.value.retryable
