"""The simulated account's per-call variants (flexsim.variants), on a manual clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import typer

from flexsim.callbacks import conference_form
from flexsim.cli import variant_options
from flexsim.runner import SimConfig
from flexsim.truth import all_truth
from flexsim.variants import AXES, FRIENDLY, VariantError, check_pins

Sim = Any  # the conftest's Sim

CALLBACK = "http://service.invalid/webhooks/conference"


def _pinned(sim_factory: Callable[..., Sim], **pins: str) -> Sim:
    sim = sim_factory(variant_pins={**FRIENDLY, **pins}, conference_callback_url=CALLBACK)
    return sim


def _only(values: Any) -> Any:
    (value,) = values
    return value


def test_outbound_attributes_absent_leaves_the_conference_out_of_the_task(
    sim_factory: Callable[..., Sim],
) -> None:
    sim = _pinned(sim_factory, outbound_attributes="absent")
    sim.run("basic", "outbound")
    task = _only(sim.world.tasks.values())
    assert task.attributes["direction"] == "outbound"
    assert "conference" not in task.attributes and "call_sid" not in task.attributes
    # what Twilio always has: the conference named after the task, with the customer in it
    conference = _only(sim.world.conferences.values())
    assert conference.friendly_name == task.sid
    customer = next(c for c in sim.world.calls.values() if c.party == "customer")
    assert customer.sid in conference.participants
    (truth,) = all_truth(sim.world, sim.engine.records)
    assert truth["variants"]["outbound_attributes"] == "absent"
    assert truth["tasks"][0]["flex_writes_lost"] == []


def test_outbound_attributes_written_by_flex(sim_factory: Callable[..., Sim]) -> None:
    sim = _pinned(sim_factory, outbound_attributes="written")
    sim.run("basic", "outbound")
    task = _only(sim.world.tasks.values())
    customer = next(c for c in sim.world.calls.values() if c.party == "customer")
    assert task.attributes["conference"]["participants"]["customer"] == customer.sid


def test_participant_labels_absent_and_no_conference_callback(
    sim_factory: Callable[..., Sim],
) -> None:
    sim = _pinned(sim_factory, participant_labels="absent", conference_callbacks="off")
    sim.run("basic")
    conference = _only(sim.world.conferences.values())
    assert conference.status_callback is None
    assert all(p.label is None for p in conference.participants.values())
    join = next(e for e in sim.events if e.name == "participant-join")
    form = conference_form(sim.world, join.name, join.at, join.data, 1)
    assert "ParticipantLabel" not in form and form["CallSid"].startswith("CA")


def test_labels_present_and_callback_on(sim_factory: Callable[..., Sim]) -> None:
    sim = _pinned(sim_factory)
    sim.run("basic")
    conference = _only(sim.world.conferences.values())
    assert conference.status_callback == CALLBACK
    assert {p.label for p in conference.participants.values()} == {"customer", "worker"}


@pytest.mark.parametrize(("value", "channels"), [("mono", 1), ("dual", 2)])
def test_studio_recording_channels(
    sim_factory: Callable[..., Sim], value: str, channels: int
) -> None:
    sim = _pinned(sim_factory, studio_recording=value)
    sim.run("studio_recorded")
    studio = _only(sim.world.recordings.values())
    assert studio.channels == channels
    task = _only(sim.world.tasks.values())
    assert task.attributes["conversations"]["media"][0]["url"].endswith(studio.sid)


@pytest.mark.parametrize(("value", "channels"), [("dual", 2), ("mono", 1)])
def test_native_recording_records_the_conference(
    sim_factory: Callable[..., Sim], value: str, channels: int
) -> None:
    sim = _pinned(sim_factory, native_recording=value)
    sim.run("basic")
    conference = _only(sim.world.conferences.values())
    recording = sim.world.recordings[conference.recording_sid]
    assert recording.conference_sid == conference.sid and recording.channels == channels
    assert recording.source == "Conference" and recording.status == "completed"
    # associated with the first participant's leg, and listed among its recordings
    first = min(conference.participants.values(), key=lambda p: p.date_created)
    assert recording.call_sid == first.call_sid
    assert recording.sid in sim.world.calls[first.call_sid].recordings
    task = _only(sim.world.tasks.values())
    assert task.attributes["conversations"]["segment_link"].endswith(recording.sid)
    (truth,) = all_truth(sim.world, sim.engine.records)
    assert [r["sid"] for r in truth["conference_recordings"]] == [recording.sid]
    assert truth["recordings"] == []
    assert truth["tasks"][0]["flex_writes_lost"] == []


def test_native_recording_outlasts_the_first_leg(sim_factory: Callable[..., Sim]) -> None:
    sim = _pinned(sim_factory, native_recording="dual")
    sim.run("warm_transfer")
    conference = _only(sim.world.conferences.values())
    recording = sim.world.recordings[conference.recording_sid]
    leg = sim.world.calls[recording.call_sid]
    assert recording.end_time is not None and leg.end_time is not None
    assert recording.end_time >= leg.end_time


def test_the_mix_covers_every_variant_and_truth_records_them(
    sim_factory: Callable[..., Sim],
) -> None:
    sim = sim_factory(agents=6, variant_pins={})
    for n in range(40):
        sim.engine.start_interaction("studio_recorded" if n % 4 == 0 else "basic",
                                     "outbound" if n % 2 else "inbound")  # fmt: skip
        sim.engine.run_until_idle()
    seen: dict[str, set[str]] = {}
    for item in all_truth(sim.world, sim.engine.records):
        for axis, value in item["variants"].items():
            seen.setdefault(axis, set()).add(value)
        if item["direction"] == "inbound":
            assert "outbound_attributes" not in item["variants"]
    assert seen == {axis: set(values) for axis, values in AXES.items()}


def test_a_pin_does_not_move_the_other_draws(sim_factory: Callable[..., Sim]) -> None:
    mixed = sim_factory(variant_pins={})
    pinned = sim_factory(variant_pins={"native_recording": "dual"})
    for sim in (mixed, pinned):
        for _ in range(6):
            sim.run("basic")
    a = [t["variants"] for t in all_truth(mixed.world, mixed.engine.records)]
    b = [t["variants"] for t in all_truth(pinned.world, pinned.engine.records)]
    assert all(v["native_recording"] == "dual" for v in b)
    for x, y in zip(a, b, strict=True):
        assert {k: v for k, v in x.items() if k != "native_recording"} == {
            k: v for k, v in y.items() if k != "native_recording"
        }


def test_pins_are_checked() -> None:
    assert check_pins({"native_recording": "mix", "studio_recording": "mono"}) == {
        "studio_recording": "mono"
    }
    with pytest.raises(VariantError, match="native_recording"):
        check_pins({"native_recording": "stereo"})
    with pytest.raises(VariantError, match="unknown variant axis"):
        check_pins({"colour": "red"})
    with pytest.raises(typer.BadParameter):
        variant_options({"participant_labels": "maybe"})
    assert variant_options({"participant_labels": "mix", "studio_recording": None}) == {
        "participant_labels": None
    }
    config = SimConfig(participant_labels=None, native_recording="mono")
    assert config.variant_pins()["native_recording"] == "mono"
    assert "participant_labels" not in config.engine_config().variant_pins


def test_the_help_names_every_variant_option_and_its_values() -> None:
    from typer.testing import CliRunner

    from flexsim.cli import sim

    app = typer.Typer()
    app.command()(sim)
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "400", "NO_COLOR": "1"})
    text = " ".join(result.output.split())
    for axis, values in AXES.items():
        assert "--" + axis.replace("_", "-") in text, axis
        assert "|".join(values) in text, axis
