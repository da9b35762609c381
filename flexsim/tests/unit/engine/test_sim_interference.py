"""Interference: recordings that end early while the call is live, and blind attribute writes
by another integration, with their ground truth (flexsim.interference)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from flexsim.api.voice_views import call_recording_view
from flexsim.callbacks import recording_url
from flexsim.faults import EARLY_END_AFTER_S, FaultPlan
from flexsim.interference import INTEGRATION_KEY, Interference, voice_entries
from flexsim.truth import all_truth
from flexsim.webhooks import WebhookDispatcher
from flexsim.world import Recording, WorldEvent

Sim = Any  # unit/engine/conftest.py's manual-clock simulator

EVENTS = ("in-progress", "completed", "absent", "failed")


def _interfere(sim: Sim, spec: str) -> FaultPlan:
    plan = FaultPlan.parse(spec, seed=3)
    Interference(sim.world, plan, sim.engine.call_later).attach()
    return plan


def _record_customer_over_rest(sim: Sim, events: tuple[str, ...] = EVENTS) -> list[Recording]:
    """When the agent is connected, a client starts a dual recording of the customer leg the
    way the REST API does (origin "api")."""
    made: list[Recording] = []

    def on_started(timeline: Any, task: Any, worker: Any) -> None:
        customer = sim.world.calls[timeline.customer_call_sid]
        made.append(
            sim.world.start_recording(
                customer,
                channels=2,
                status_callback="https://client.example/recording-status",
                status_callback_events=events,
                origin="api",
            )
        )

    sim.engine.on_conversation_started(on_started)
    return made


def _recording_events(sim: Sim, sid: str) -> list[str]:
    return [
        e.name
        for e in sim.events
        if e.kind == "recording-status" and e.data["recording"].sid == sid
    ]


@pytest.mark.parametrize(
    ("kind", "status", "error_code", "reason"),
    [
        ("absent", "absent", 16102, "early-absent"),
        ("failed", "failed", 16105, "early-failed"),
        ("stopped", "completed", None, "stopped-by-other-client"),
    ],
)
def test_a_recording_ends_early_while_its_call_is_live(
    sim: Sim, kind: str, status: str, error_code: int | None, reason: str
) -> None:
    _interfere(sim, f"{kind}=1")
    made = _record_customer_over_rest(sim)
    sim.engine.start_interaction("basic", "inbound")
    sim.engine.advance(EARLY_END_AFTER_S[kind][1] + 60)
    (recording,) = made
    call = sim.world.calls[recording.call_sid]
    assert recording.status == status
    assert recording.error_code == error_code
    assert recording.end_reason == reason
    low, high = EARLY_END_AFTER_S[kind]
    assert recording.end_time is not None
    assert low <= recording.end_time - recording.start_time <= high
    # the call went on after the recording ended
    assert call.end_time is None or call.end_time > recording.end_time
    assert _recording_events(sim, recording.sid) == ["in-progress", status]
    sim.engine.run_until_idle()
    (truth,) = all_truth(sim.world, sim.engine.records)
    (fault,) = truth["faults"]
    assert fault["kind"] == f"recording_{kind}"
    assert fault["recording_sid"] == recording.sid
    assert fault["party"] == "customer"
    assert fault["at_ms"] == round(recording.end_time * 1000)
    assert fault["at_ms"] < truth["ended_at_ms"]
    assert fault["next_recording"] is None  # nobody replaced it
    (rec_truth,) = truth["recordings"]
    assert rec_truth["end_reason"] == reason
    if kind == "stopped":
        assert rec_truth["recorded_spans"] == [[rec_truth["start_time_ms"], fault["at_ms"]]]
        assert recording.duration_s and recording.duration_s >= 9
    else:
        assert rec_truth["recorded_spans"] == []  # nothing was stored


def test_a_failed_recording_reads_as_absent_over_rest_and_calls_back_only_subscribers(
    sim: Sim,
) -> None:
    _interfere(sim, "failed=1")
    made: list[Recording] = []

    def on_started(timeline: Any, task: Any, worker: Any) -> None:
        customer = sim.world.calls[timeline.customer_call_sid]
        for events in (EVENTS, ("in-progress", "completed", "absent")):
            made.append(
                sim.world.start_recording(
                    customer,
                    channels=2,
                    status_callback="https://client.example/rs",
                    status_callback_events=events,
                    origin="api",
                )
            )

    sim.engine.on_conversation_started(on_started)
    dispatcher = WebhookDispatcher(sim.world, auth_token="t")
    dispatcher.attach()
    sim.run("basic", "inbound")
    subscribed, unsubscribed = made
    assert subscribed.status == unsubscribed.status == "failed"
    view = call_recording_view(subscribed, sim.world.account_sid)
    assert (view["status"], view["error_code"]) == ("absent", 16105)
    callbacks = [
        (d.form or {}).get("RecordingSid")
        for d in dispatcher.inbox
        if d.kind == "recording-status" and (d.form or {}).get("RecordingStatus") == "failed"
    ]
    assert callbacks == [subscribed.sid]


def test_the_next_recording_on_the_leg_is_reported_with_its_gap(sim: Sim) -> None:
    _interfere(sim, "absent=1")
    made = _record_customer_over_rest(sim)

    def replace(event: WorldEvent) -> None:
        recording = event.data.get("recording")
        if event.kind == "recording-status" and event.name == "absent" and len(made) == 1:
            call = sim.world.calls[recording.call_sid]
            sim.engine.call_later(
                2.5,
                lambda: made.append(sim.world.start_recording(call, channels=2, origin="api")),
            )

    sim.world.subscribe(replace)
    sim.run("basic", "inbound")
    (truth,) = all_truth(sim.world, sim.engine.records)
    faults = [f for f in truth["faults"] if f["recording_sid"] == made[0].sid]
    assert faults[0]["next_recording"] == {"sid": made[1].sid, "gap_ms": 2500}


def test_the_call_ending_first_means_no_fault(sim_factory: Callable[..., Sim]) -> None:
    sim = sim_factory(talk_time_median_s=2.0, min_talk_time_s=1.0, max_talk_time_s=3.0)
    _interfere(sim, "stopped=1")  # a stop 10-60 s in: every call here is over by then
    made = _record_customer_over_rest(sim)
    sim.run("basic", "inbound")
    (recording,) = made
    assert recording.end_reason == "call-ended"
    (truth,) = all_truth(sim.world, sim.engine.records)
    assert truth["faults"] == []


def test_recordings_the_account_made_itself_are_left_alone(sim: Sim) -> None:
    _interfere(sim, "absent=1")
    sim.run("studio_recorded")
    (studio,) = sim.world.recordings.values()
    assert studio.origin == "account"
    assert studio.end_reason == "call-ended"
    assert studio.status == "completed"


def test_no_interference_rates_change_nothing(sim_factory: Callable[..., Sim]) -> None:
    def run(spec: str | None) -> list[dict[str, Any]]:
        sim = sim_factory(seed=9)
        if spec is not None:
            _interfere(sim, spec)
        _record_customer_over_rest(sim)
        for scenario in ("basic", "hold", "cold_transfer"):
            sim.engine.start_interaction(scenario, "inbound")
        sim.engine.run_until_idle()
        return all_truth(sim.world, sim.engine.records)

    plain = run(None)
    assert run("api=0.5,dup=0.5") == plain  # transport faults do not touch the world
    assert all(item["faults"] == [] for item in plain)


def test_decisions_are_keyed_by_call_and_recording_not_by_arrival_order() -> None:
    plan = FaultPlan.parse("absent=0.2,failed=0.2,stopped=0.2", seed=4)
    first = [plan.recording_fate(f"{n}:0") for n in range(300)]
    shuffled = [plan.recording_fate(f"{n}:0") for n in reversed(range(300))][::-1]
    assert first == shuffled
    kinds = [f.kind for f in first if f is not None]
    assert 0.45 < len(kinds) / 300 < 0.75
    assert set(kinds) == {"absent", "failed", "stopped"}


# -- blind attribute writes ----------------------------------------------------------------


def _link(sim: Sim, task_sid: str, recording_sid: str) -> dict[str, Any]:
    """A client's link write: the task's attributes with one more VoiceRecording entry."""
    task = sim.world.tasks[task_sid]
    entry = {
        "type": "VoiceRecording",
        "url": recording_url(sim.world.account_sid, recording_sid),
        "start_time": 1_800_000_000_000,
        "channels": ["customer", "others"],
    }
    attributes = copy.deepcopy(task.attributes)
    conversations = attributes.setdefault("conversations", {})
    conversations["media"] = [*conversations.get("media", []), entry]
    sim.world.update_task_attributes(task, attributes)
    return entry


def test_another_integration_overwrites_the_link_from_a_stale_copy(sim: Sim) -> None:
    _interfere(sim, "clobber=1")
    sim.engine.start_interaction("basic", "inbound")
    sim.engine.advance(30)
    (task,) = sim.world.tasks.values()
    conference_before = copy.deepcopy(task.attributes["conference"])
    revision = task.revision
    entry = _link(sim, task.sid, "RE" + "1" * 32)
    assert voice_entries(task.attributes) == [entry]
    sim.engine.advance(5.0)  # the stale write lands within BLIND_WRITE_AFTER_S
    assert voice_entries(task.attributes) == []
    assert task.attributes[INTEGRATION_KEY]["integration"] == "another-integration"
    assert task.attributes["conference"] == conference_before  # Flex's keys are untouched
    assert task.revision == revision + 2  # the link, then the blind write
    updates = [e for e in sim.events if e.name == "task.updated"]
    assert updates[-1].data["task"] is task  # announced like any attribute update
    sim.engine.run_until_idle()
    (truth,) = all_truth(sim.world, sim.engine.records)
    (fault,) = truth["faults"]
    assert fault["kind"] == "blind_write"
    assert fault["task_sid"] == task.sid
    assert fault["dropped"] == [entry]
    assert fault["revision"] == revision + 2
    assert set(fault["added"]) == {INTEGRATION_KEY}
    assert truth["tasks"][0]["flex_writes_lost"] == []


def test_a_repaired_link_may_be_clobbered_again_and_other_writes_never_are(sim: Sim) -> None:
    _interfere(sim, "clobber=1")
    sim.engine.start_interaction("basic", "inbound")
    sim.engine.advance(30)
    (task,) = sim.world.tasks.values()
    first = _link(sim, task.sid, "RE" + "1" * 32)
    sim.engine.advance(5.0)
    # the repair: the entry merged back into the current attributes (crm key kept)
    second = _link(sim, task.sid, "RE" + "1" * 32)
    assert first == second
    sim.engine.advance(5.0)
    assert voice_entries(task.attributes) == []
    before = task.revision
    sim.world.update_task_attributes(task, {**task.attributes, "note": "no media added"})
    sim.engine.advance(6.0)
    assert task.revision == before + 1  # nothing followed a write that added no media
    assert len(task.blind_writes) == 2


def test_no_blind_write_lands_on_a_finished_task(sim: Sim) -> None:
    _interfere(sim, "clobber=1")
    sim.engine.start_interaction("basic", "inbound")
    sim.engine.advance(30)
    (task,) = sim.world.tasks.values()
    _link(sim, task.sid, "RE" + "2" * 32)
    sim.world.set_task_status(task, "completed", reason="done")
    sim.engine.advance(6.0)
    assert len(voice_entries(task.attributes)) == 1
    assert task.blind_writes == []
