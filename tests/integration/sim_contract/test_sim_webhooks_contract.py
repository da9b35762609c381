"""Every webhook the simulator builds parses with the service's own parsers (the contract)."""

from __future__ import annotations

import json

import pytest

from flexrec.webhooks import events as parsers
from flexsim import callbacks
from flexsim.engine import Engine, EngineConfig, scenario_names
from flexsim.runner import SimConfig, SimRunner
from flexsim.webhooks import WebhookDispatcher
from flexsim.world import SimClock, World, WorldEvent


def _run_all_scenarios() -> tuple[World, WebhookDispatcher, list[dict[str, object]]]:
    world = World(SimClock(scale=0, start_epoch=1_800_000_000.0), seed=3)
    world.event_callback_url = "http://svc/webhooks/taskrouter"
    engine = Engine(
        world,
        EngineConfig(
            agents=6,
            rate_per_hour=0,
            seed=3,
            conference_callback_url="http://svc/webhooks/conference",
            call_status_callback_url="http://svc/webhooks/call-status",
            studio_recording_callback_url="http://svc/webhooks/recording-status",
        ),
    )
    engine.populate()
    dispatcher = WebhookDispatcher(world, auth_token="tok")
    dispatcher.attach()
    cloud_events: list[dict[str, object]] = []

    def as_cloud_event(event: WorldEvent) -> None:
        if event.kind == "taskrouter":
            form = callbacks.taskrouter_form(
                world, event.name, event.at, event.data, "EV" + "1" * 32
            )
            cloud_events.append(callbacks.event_streams_cloudevent(world, form, event.at))

    world.subscribe(as_cloud_event)
    for scenario in scenario_names():
        engine.start_interaction(scenario)
    engine.run_until_idle()
    return world, dispatcher, cloud_events


def test_form_callbacks_parse_with_the_service_parsers() -> None:
    world, dispatcher, _ = _run_all_scenarios()
    parse = {
        "taskrouter": parsers.parse_taskrouter_form,
        "conference": parsers.parse_conference_form,
        "call-status": parsers.parse_call_status_form,
        "recording-status": parsers.parse_recording_status_form,
    }
    kinds = set()
    for delivery in dispatcher.inbox:
        assert delivery.form is not None
        parsed = parse[delivery.kind](delivery.form)
        kinds.add(delivery.kind)
        if isinstance(parsed, parsers.TaskRouterEvent) and parsed.event_type.startswith(
            ("task.", "reservation.")
        ):
            assert parsed.task_sid in world.tasks
    assert kinds == set(parse)


def test_event_streams_batches_parse_with_the_service_parser() -> None:
    world, _, cloud_events = _run_all_scenarios()
    batch = parsers.parse_event_streams_batch(json.dumps(cloud_events).encode())
    parsed = batch.events
    assert batch.malformed == []
    assert len(parsed) + batch.ignored == len(cloud_events)
    updated = [e for e in parsed if e.event_type == "task.updated"]
    assert updated and all(e.task_attributes is not None for e in updated)
    assert {e.task_sid for e in parsed} == set(world.tasks)


def test_runner_refuses_a_manual_clock() -> None:
    with pytest.raises(ValueError, match="scale"):
        SimRunner(SimConfig(scale=0))
