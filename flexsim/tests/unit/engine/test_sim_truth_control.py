"""Ground truth of recordings and media, and the `/_sim` control routes over a manual clock."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI

from flexsim.callbacks import recording_url
from flexsim.control import create_control_router
from flexsim.faults import FaultPlan
from flexsim.truth import all_truth

Sim = Any


def _record_both_legs(sim: Sim) -> None:
    world = sim.world

    def on_started(timeline: Any, task: Any, worker: Any) -> None:
        customer = world.calls[timeline.customer_call_sid]
        worker_leg = next(
            c
            for c in world.calls.values()
            if c.worker_sid == worker.sid and c.status == "in-progress"
        )
        world.start_recording(customer, channels=2)
        world.start_recording(worker_leg, channels=2)

    sim.engine.on_conversation_started(on_started)


def test_recordings_are_reported_with_gap_status_and_pauses(sim: Sim) -> None:
    _record_both_legs(sim)
    sim.engine.start_interaction("basic")
    sim.engine.advance(40)
    customer_rec = next(
        r for r in sim.world.recordings.values() if sim.world.calls[r.call_sid].party == "customer"
    )
    sim.world.pause_recording(customer_rec, "skip")
    sim.engine.advance(5)
    sim.world.resume_recording(customer_rec)
    sim.engine.run_until_idle()
    (truth,) = all_truth(sim.world, sim.engine.records)
    recordings = {r["party"]: r for r in truth["recordings"]}
    assert set(recordings) == {"customer", "worker"}
    customer = recordings["customer"]
    assert customer["status"] == "completed"
    assert customer["channels"] == 2
    assert customer["start_gap_ms"] == 0  # started the moment the agent was connected
    ((pause),) = customer["pauses"]
    assert pause["end_ms"] - pause["start_ms"] == 5000
    assert pause["behavior"] == "skip"
    assert truth["expected_window"]["start_ms"] == truth["agent_connected_at_ms"]
    assert truth["expected_window"]["end_ms"] == truth["ended_at_ms"]
    assert set(truth["speech"]) == {"customer", truth["worker_sids"][0]}


def test_media_truth_tells_customer_leg_from_worker_leg(sim: Sim) -> None:
    _record_both_legs(sim)
    sim.run("basic")
    world = sim.world
    (task,) = world.tasks.values()
    by_party = {world.calls[r.call_sid].party: r for r in world.recordings.values()}

    def media_truth(recording_sid: str, copies: int = 1) -> dict[str, Any]:
        item = {
            "type": "VoiceRecording",
            "url": recording_url(world.account_sid, recording_sid),
            "start_time": 1,
            "channels": ["customer", "others"],
        }
        world.update_task_attributes(
            task, {**task.attributes, "conversations": {"media": [item] * copies}}
        )
        (truth,) = all_truth(world, sim.engine.records)
        media: dict[str, Any] = truth["tasks"][0]["media"]
        return media

    on_customer = media_truth(by_party["customer"].sid)
    assert on_customer["exactly_one"] and on_customer["url_is_customer_leg"]
    assert on_customer["linked"]
    on_worker = media_truth(by_party["worker"].sid)
    assert on_worker["exactly_one"] and not on_worker["url_is_customer_leg"]
    assert not on_worker["linked"] and on_worker["missing"] == [by_party["customer"].sid]
    twice = media_truth(by_party["customer"].sid, copies=2)
    assert not twice["exactly_one"] and twice["voice_recordings"] == 2


def test_media_truth_wants_one_entry_per_recording_with_media(sim: Sim) -> None:
    _record_both_legs(sim)
    sim.run("basic")
    world = sim.world
    (task,) = world.tasks.values()
    first = next(
        r for r in world.recordings.values() if world.calls[r.call_sid].party == "customer"
    )
    # A second dual recording on the customer leg (a replacement); the first stored nothing.
    second = world.start_recording(world.calls[first.call_sid], channels=2)
    first.status = "absent"

    def linked_with(*sids: str) -> dict[str, Any]:
        items = [
            {"type": "VoiceRecording", "url": recording_url(world.account_sid, sid)} for sid in sids
        ]
        world.update_task_attributes(task, {**task.attributes, "conversations": {"media": items}})
        (truth,) = all_truth(world, sim.engine.records)
        media: dict[str, Any] = truth["tasks"][0]["media"]
        return media

    assert linked_with(second.sid)["linked"]
    stale = linked_with(second.sid, first.sid)
    assert not stale["linked"] and stale["without_media"] == [first.sid]
    first.status = "completed"  # both stored media: both entries wanted, oldest first
    assert linked_with(first.sid, second.sid)["linked"]
    assert linked_with(first.sid)["missing"] == [second.sid]


class _Client:
    """Calls the router in-process through httpx's ASGI transport (one request per call)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
                return await client.request(method, url, **kwargs)

        return asyncio.run(go())

    def get(self, url: str) -> httpx.Response:
        return self._call("GET", url)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self._call("POST", url, **kwargs)


def _client(sim: Sim, faults: FaultPlan | None = None) -> _Client:
    app = FastAPI()
    app.include_router(create_control_router(sim.world, sim.engine, None, faults))
    return _Client(app)


def test_truth_routes_find_interactions_by_any_leg_or_task(sim: Sim) -> None:
    sim.run("third_party")
    client = _client(sim)
    everything = client.get("/_sim/truth").json()
    assert everything["count"] == 1
    (interaction,) = everything["interactions"]
    for leg in interaction["legs"]:
        assert (
            client.get(f"/_sim/truth/{leg['call_sid']}").json()["interaction_id"]
            == (interaction["interaction_id"])
        )
    task_sid = interaction["tasks"][0]["task_sid"]
    assert client.get(f"/_sim/truth/{task_sid}").status_code == 200
    assert client.get("/_sim/truth/CA" + "0" * 32).status_code == 404


def test_stats_and_agents_reflect_the_world(sim: Sim) -> None:
    sim.engine.start_interaction("basic")
    sim.engine.advance(30)
    client = _client(sim)
    stats = client.get("/_sim/stats").json()
    assert stats["calls"]["active"] == 2
    assert stats["tasks"]["active"] == 1
    assert stats["engine"]["active"] == 1
    assert stats["idle"] is False
    agents = client.get("/_sim/agents").json()["agents"]
    busy = [a for a in agents if not a["available"]]
    assert len(busy) == 1 and busy[0]["task_sid"].startswith("WT")
    sim.engine.run_until_idle()
    stats = client.get("/_sim/stats").json()
    assert stats["calls"]["active"] == 0 and stats["idle"] is True
    assert stats["engine"]["by_scenario"] == {"basic": 1}


def test_fault_route_validates_and_replaces_the_plan_in_place(sim: Sim) -> None:
    plan = FaultPlan.parse("")
    client = _client(sim, plan)
    assert client.post("/_sim/faults", json={"spec": "api=2"}).status_code == 400
    assert client.post("/_sim/faults", content=b"[1]").status_code == 400
    answer = client.post("/_sim/faults", json={"api": 0.2, "dup": 0.1}).json()
    assert answer["api_error_rate"] == 0.2 and answer["dup_rate"] == 0.1
    assert plan.api_error_rate == 0.2
    answer = client.post("/_sim/faults", json={"spec": "absent=0.1,stopped=0.2,clobber=0.3"}).json()
    assert (answer["rec_absent_rate"], answer["rec_stopped_rate"]) == (0.1, 0.2)
    assert plan.clobber_rate == 0.3 and plan.interferes
    assert client.get("/_sim/faults").json()["clobber_rate"] == 0.3
    assert client.post("/_sim/faults", json={"absent": 0.6, "failed": 0.6}).status_code == 400
    assert _client(sim, None).post("/_sim/faults", json={}).status_code == 409


def test_interaction_route_rejects_unknown_scenarios(sim: Sim) -> None:
    client = _client(sim)
    assert client.post("/_sim/interactions", json={"scenario": "nope"}).status_code == 400
    assert client.post("/_sim/interactions", json={"scenario": "hold"}).status_code == 200
    sim.engine.run_until_idle()
    assert [r.scenario for r in sim.engine.records] == ["hold"]
