"""Each scenario's event sequence and attribute writes, on a manual clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from flexsim.engine import scenario_names
from flexsim.truth import all_truth

Sim = Any  # the conftest's Sim (not importable by name from a conftest)


def _index(names: list[str], name: str, start: int = 0) -> int:
    return names.index(name, start)


def _task(sim: Sim) -> Any:
    (task,) = sim.world.tasks.values()
    return task


def test_inbound_basic_follows_flex_order(sim: Sim) -> None:
    sim.run("basic")
    names = sim.names()
    order = [
        "in-progress",
        "task.created",
        "reservation.created",
        "reservation.accepted",
        "conference-start",
        "participant-join",
        "task.updated",
        "participant-leave",
        "conference-end",
        "reservation.wrapup",
        "task.wrapup",
        "reservation.completed",
        "task.completed",
    ]
    positions = [names.index(n) for n in order]
    assert positions == sorted(positions), list(zip(order, positions, strict=True))
    assert names.count("participant-join") == 2
    task = _task(sim)
    customer = next(c for c in sim.world.calls.values() if c.party == "customer")
    worker_leg = next(c for c in sim.world.calls.values() if c.party == "worker")
    assert customer.direction == "inbound"
    assert worker_leg.worker_sid in sim.world.workers
    attrs = task.attributes
    for key in ("call_sid", "direction", "from", "to", "caller", "called", "type", "name"):
        assert key in attrs
    assert attrs["call_sid"] == customer.sid
    assert attrs["direction"] == "inbound"
    assert attrs["conference"]["sid"].startswith("CF")
    assert attrs["conference"]["participants"] == {
        "worker": worker_leg.sid,
        "customer": customer.sid,
    }
    conference = sim.world.conferences[attrs["conference"]["sid"]]
    assert conference.friendly_name == task.sid
    assert task.assignment_status == "completed"
    assert all(c.interaction_id == customer.sid for c in sim.world.calls.values())
    assert all(w.available for w in sim.world.workers.values())


def test_inbound_timeline_describes_the_conversation(sim: Sim) -> None:
    sim.run("basic")
    customer = next(c for c in sim.world.calls.values() if c.party == "customer")
    timeline = sim.world.timelines[customer.sid]
    assert timeline.eligible
    assert timeline.customer_answered_at is not None and timeline.agent_connected_at is not None
    assert timeline.ended_at is not None
    assert timeline.customer_answered_at < timeline.agent_connected_at < timeline.ended_at
    assert timeline.queue_audio == [(timeline.customer_answered_at, timeline.agent_connected_at)]
    speakers = {u.speaker for u in timeline.utterances}
    worker_sid = next(iter(sim.world.workers))
    assert "customer" in speakers and len(speakers) == 2
    assert all(
        timeline.agent_connected_at <= u.start < u.end <= timeline.ended_at + 1e-6
        for u in timeline.utterances
    )
    assert {p.speaker for p in timeline.presences} == {"customer"} | (speakers - {"customer"})
    assert all(p.end is not None for p in timeline.presences)
    assert worker_sid in sim.world.workers


def test_outbound_worker_joins_first_and_customer_is_written_later(sim: Sim) -> None:
    sim.engine.config.scenario_weights = {"basic": 1}
    sim.run("basic", "outbound")
    task = _task(sim)
    updates = [e for e in sim.events if e.name == "task.updated"]
    assert len(updates) == 2
    customer = next(c for c in sim.world.calls.values() if c.party == "customer")
    worker_leg = next(c for c in sim.world.calls.values() if c.party == "worker")
    assert customer.direction == "outbound-api"
    assert "call_sid" not in task.attributes
    assert task.attributes["direction"] == "outbound"
    assert task.attributes["outbound_to"] == customer.to
    joins = [e.data["participant"].call_sid for e in sim.events if e.name == "participant-join"]
    assert joins == [worker_leg.sid, customer.sid]
    assert task.attributes["conference"]["participants"] == {
        "worker": worker_leg.sid,
        "customer": customer.sid,
    }
    statuses = [
        e.name for e in sim.events if e.kind == "call-status" and e.data["call"] is customer
    ]
    assert statuses == ["ringing", "in-progress", "completed"]
    # the customer's SID reached TaskRouter only after the customer leg answered
    first_update_at = updates[0].at
    assert customer.start_time is not None and first_update_at < customer.start_time


def test_outbound_no_answer_is_not_eligible_and_never_names_the_customer(sim: Sim) -> None:
    sim.run("no_answer")
    task = _task(sim)
    customer = next(c for c in sim.world.calls.values() if c.party == "customer")
    assert customer.status in ("no-answer", "busy")
    assert "customer" not in task.attributes["conference"]["participants"]
    assert not sim.world.timelines[customer.sid].eligible
    assert task.assignment_status == "completed"
    (truth,) = all_truth(sim.world, sim.engine.records)
    assert truth["eligible"] is False and truth["expected_window"] is None


def test_abandon_cancels_the_task_without_reservation(sim: Sim) -> None:
    sim.run("abandon")
    task = _task(sim)
    assert task.assignment_status == "canceled"
    assert task.reason == "hangup"
    assert "reservation.created" not in sim.names()
    assert "task.canceled" in sim.names()
    (truth,) = all_truth(sim.world, sim.engine.records)
    assert truth["scenario"] == "abandon" and not truth["eligible"]


def test_studio_recorded_call_arrives_with_media_and_a_running_recording(sim: Sim) -> None:
    sim.run("studio_recorded")
    names = sim.names()
    assert names.index("in-progress") < names.index("task.created")
    recording_started = next(i for i, e in enumerate(sim.events) if e.kind == "recording-status")
    assert recording_started < names.index("task.created")
    (recording,) = sim.world.recordings.values()
    customer = sim.world.calls[recording.call_sid]
    assert customer.party == "customer"
    assert recording.channels == 2
    assert recording.status == "completed"
    media = _task(sim).attributes["conversations"]["media"]
    assert len(media) == 1
    assert media[0]["type"] == "VoiceRecording"
    assert media[0]["url"].endswith(f"/Recordings/{recording.sid}")
    assert media[0]["channels"] == ["customer", "others"]
    assert media[0]["start_time"].endswith("Z") and "T" in media[0]["start_time"]
    (truth,) = all_truth(sim.world, sim.engine.records)
    assert truth["tasks"][0]["media"]["exactly_one"]
    assert truth["tasks"][0]["media"]["url_is_customer_leg"]


def test_hold_is_announced_and_recorded_in_the_timeline(sim: Sim) -> None:
    sim.run("hold")
    names = sim.names("conference")
    assert names.count("participant-hold") == 1 and names.count("participant-unhold") == 1
    customer = next(c for c in sim.world.calls.values() if c.party == "customer")
    timeline = sim.world.timelines[customer.sid]
    ((start, end),) = timeline.holds
    assert end > start
    assert not [u for u in timeline.utterances if start < u.start < end]


@pytest.mark.parametrize("warm", [False, True])
def test_transfer_reserves_the_same_task_for_a_second_agent(sim: Sim, warm: bool) -> None:
    sim.run("warm_transfer" if warm else "cold_transfer")
    task = _task(sim)
    assert len(task.reservations) == 2
    workers = {sim.world.reservations[r].worker_sid for r in task.reservations}
    assert len(workers) == 2
    legs = [c for c in sim.world.calls.values() if c.party == "worker"]
    first, second = sorted(legs, key=lambda c: c.date_created)
    assert first.end_time is not None and second.start_time is not None
    if warm:
        assert first.end_time > second.start_time  # both agents were on the call together
    else:
        assert first.end_time <= second.start_time  # agent A left before B joined
    assert "task.transfer-initiated" in sim.names()
    assert all(sim.world.reservations[r].status == "completed" for r in task.reservations)
    assert all(w.available for w in sim.world.workers.values())


def test_third_party_joins_with_its_own_label(sim: Sim) -> None:
    sim.run("third_party")
    labels = [e.data["participant"].label for e in sim.events if e.name == "participant-join"]
    assert sorted(labels) == ["customer", "third", "worker"]
    third = next(c for c in sim.world.calls.values() if c.party == "third")
    assert third.interaction_id is not None
    assert third.status == "completed"


def test_internal_call_has_two_agents_and_no_customer(sim: Sim) -> None:
    sim.run("internal")
    task = _task(sim)
    assert task.attributes["client_call"] is True
    assert {c.party for c in sim.world.calls.values()} == {"worker"}
    assert len(sim.world.calls) == 2
    (truth,) = all_truth(sim.world, sim.engine.records)
    assert truth["direction"] == "internal"
    assert truth["eligible"] is False
    assert truth["customer_call_sid"] is None


def test_browser_closed_changes_nothing_server_side(sim: Sim) -> None:
    sim.run("browser_closed")
    (truth,) = all_truth(sim.world, sim.engine.records)
    assert "browser_closed_at_ms" in truth["notes"]
    assert truth["eligible"]
    assert "task.completed" in sim.names()
    changed = ("participant-hold", "worker.activity", "worker.attributes")
    assert not [e for e in sim.events if e.name.startswith(changed)]


def test_flex_write_keeps_keys_the_service_wrote_in_between(sim: Sim) -> None:
    world = sim.world
    service_media = {"media": [{"type": "VoiceRecording", "url": "u", "channels": ["a", "b"]}]}

    def service_writes(event: Any) -> None:
        # the service reacts to reservation.accepted by writing its own key
        if event.name == "reservation.accepted":
            task = event.data["task"]
            attrs = json.loads(json.dumps(task.attributes))
            attrs["conversations"] = service_media
            world.update_task_attributes(task, attrs)

    world.subscribe(service_writes)
    sim.run("basic")
    task = _task(sim)
    assert task.attributes["conversations"] == service_media
    assert "conference" in task.attributes
    (truth,) = all_truth(world, sim.engine.records)
    assert truth["tasks"][0]["flex_writes_lost"] == []


def test_truth_reports_flex_writes_a_stale_service_write_lost(sim: Sim) -> None:
    world = sim.world
    stale: dict[str, Any] = {}

    def capture_then_clobber(event: Any) -> None:
        if event.name == "task.created":
            stale.update(json.loads(json.dumps(event.data["task"].attributes)))
        if event.name == "reservation.wrapup":
            # a blind write (no If-Match) of attributes read before Flex's write
            world.update_task_attributes(event.data["task"], {**stale, "x": 1})

    world.subscribe(capture_then_clobber)
    sim.run("basic")
    (truth,) = all_truth(world, sim.engine.records)
    assert truth["tasks"][0]["flex_writes_lost"] == [
        "conference.participants.customer",
        "conference.participants.worker",
        "conference.sid",
    ]


def test_agents_are_shared_first_come_first_served(sim_factory: Callable[..., Sim]) -> None:
    sim = sim_factory(agents=1)
    sim.engine.start_interaction("basic")
    sim.engine.start_interaction("basic")
    sim.engine.advance(60)
    assert sim.engine.waiting == 1
    sim.engine.run_until_idle()
    assert sim.engine.waiting == 0
    tasks = sorted(sim.world.tasks.values(), key=lambda t: t.date_created)
    assert [t.assignment_status for t in tasks] == ["completed", "completed"]
    first_done = next(
        e.at for e in sim.events if e.name == "task.completed" and e.data["task"] is tasks[0]
    )
    second_reserved = next(
        e.at for e in sim.events if e.name == "reservation.created" and e.data["task"] is tasks[1]
    )
    assert second_reserved >= first_done


def test_callers_give_up_after_the_longest_queue_wait(sim_factory: Callable[..., Sim]) -> None:
    sim = sim_factory(agents=1, max_queue_wait_s=30.0, talk_time_median_s=600.0)
    sim.engine.start_interaction("basic")
    sim.engine.start_interaction("basic")
    sim.engine.run_until_idle()
    scenarios = sorted(r.scenario for r in sim.engine.records)
    assert scenarios == ["abandon", "basic"]


def test_conversation_hook_gets_timeline_task_and_worker(sim: Sim) -> None:
    seen: list[tuple[str, str, str]] = []
    sim.engine.on_conversation_started(
        lambda timeline, task, worker: seen.append((timeline.interaction_id, task.sid, worker.sid))
    )
    sim.run("hold")
    ((interaction_id, task_sid, worker_sid),) = seen
    assert interaction_id in sim.world.timelines
    assert task_sid in sim.world.tasks
    assert worker_sid in sim.world.workers


def test_a_failing_hook_does_not_stop_the_call(sim: Sim) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("driver bug")

    sim.engine.on_conversation_started(broken)
    sim.run("basic")
    assert _task(sim).assignment_status == "completed"
    assert sim.engine.errors


def test_same_seed_gives_the_same_day(sim_factory: Callable[..., Sim]) -> None:
    def day(seed: int) -> list[tuple[str, str, float]]:
        sim = sim_factory(agents=3, seed=seed, rate_per_hour=600, calls=12)
        sim.engine.start_traffic()
        sim.engine.run_until_idle()
        out = []
        for e in sim.events:
            sid = next((v.sid for v in e.data.values() if hasattr(v, "sid")), "")
            out.append((e.name, sid, round(e.at, 6)))
        return out

    first = day(3)
    assert first == day(3)
    assert first != day(4)


def test_traffic_generates_the_configured_number_of_calls(sim_factory: Callable[..., Sim]) -> None:
    sim = sim_factory(agents=5, rate_per_hour=360, calls=30)
    sim.engine.start_traffic()
    sim.engine.run_until_idle()
    assert sim.engine.generated == 30
    assert sim.engine.idle()
    assert not sim.engine.errors
    scenarios = {r.scenario for r in sim.engine.records}
    assert len(scenarios) >= 5
    assert scenarios <= set(scenario_names())
