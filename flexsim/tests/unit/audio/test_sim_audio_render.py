"""What a simulated recording holds: channel order, pauses, late starts, hold music, determinism."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest

from flexsim.audio import render_recording, truth_segments
from flexsim.timeline import CUSTOMER, Presence, Timeline, Utterance
from flexsim.world import Call, Recording, SimClock, World

T0 = 1_700_000_000.0
SR = 8000


@dataclass
class Scene:
    world: World
    customer: Call
    agent: Call
    agent_sid: str


def build_scene(
    *,
    seed: int = 11,
    utterances: Sequence[tuple[str, float, float]] = (),
    holds: Sequence[tuple[float, float]] = (),
    queue_audio: Sequence[tuple[float, float]] = (),
    noise_dbfs: float = -60.0,
    join_s: float = 0.0,
) -> Scene:
    """A customer leg and an agent leg, both up from t=0 (seconds from T0) and in conversation
    from `join_s`; speaker "agent" in `utterances` stands for the worker."""
    world = World(clock=SimClock(scale=0, start_epoch=T0), seed=seed)
    worker = world.add_worker("alice", {})
    customer = world.create_call(
        from_="+1555", to="+1666", direction="inbound", party="customer", interaction_id="IX1"
    )
    agent = world.create_call(
        from_="+1666",
        to="client:alice",
        direction="outbound-api",
        party="worker",
        interaction_id="IX1",
        worker_sid=worker.sid,
    )
    # Wordless formant speech: these tests are about who hears what, with exact spans; speech
    # in words is tested in flexsim/tests/unit/speech.
    timeline = Timeline(
        "IX1", customer.sid, "inbound", seed=seed, noise_dbfs=noise_dbfs, worded=False
    )
    timeline.presences += [
        Presence(CUSTOMER, customer.sid, T0 + join_s),
        Presence(worker.sid, agent.sid, T0 + join_s),
    ]
    for who, start, end in utterances:
        speaker = worker.sid if who == "agent" else who
        timeline.utterances.append(Utterance(speaker, T0 + start, T0 + end))
    timeline.holds += [(T0 + a, T0 + b) for a, b in holds]
    timeline.queue_audio += [(T0 + a, T0 + b) for a, b in queue_audio]
    world.timelines["IX1"] = timeline
    world.set_call_status(customer, "in-progress")
    world.set_call_status(agent, "in-progress")
    return Scene(world, customer, agent, worker.sid)


def advance_to(world: World, seconds: float) -> None:
    world.clock.advance(T0 + seconds - world.clock.now())


def rms_dbfs(samples: npt.NDArray[np.int16], start_s: float, end_s: float) -> float:
    part = samples[int(start_s * SR) : int(end_s * SR)].astype(np.float64) / 32768.0
    return float(10 * np.log10(np.mean(part**2) + 1e-15))


def record(scene: Scene, leg: Call, start_s: float, end_s: float, channels: int = 2) -> Recording:
    advance_to(scene.world, start_s)
    rec = scene.world.start_recording(leg, channels=channels)
    advance_to(scene.world, end_s)
    scene.world.finish_recording(rec)
    return rec


def test_customer_leg_puts_customer_on_channel_1_and_the_agent_on_channel_2() -> None:
    scene = build_scene(utterances=[(CUSTOMER, 1.0, 3.0), ("agent", 4.0, 6.0)])
    rec = record(scene, scene.customer, 0.0, 7.0)
    audio = render_recording(scene.world, rec)
    assert audio.shape == (7 * SR, 2)
    assert audio.dtype == np.int16
    assert rms_dbfs(audio[:, 0], 1.2, 2.8) > -30  # customer speaking, received from the leg
    assert rms_dbfs(audio[:, 1], 1.2, 2.8) < -50
    assert rms_dbfs(audio[:, 1], 4.2, 5.8) > -30  # agent speaking, sent to the leg
    assert rms_dbfs(audio[:, 0], 4.2, 5.8) < -50


def test_worker_leg_puts_the_agent_on_channel_1_and_the_customer_on_channel_2() -> None:
    scene = build_scene(utterances=[(CUSTOMER, 1.0, 3.0), ("agent", 4.0, 6.0)])
    rec = record(scene, scene.agent, 0.0, 7.0)
    audio = render_recording(scene.world, rec)
    assert rms_dbfs(audio[:, 0], 4.2, 5.8) > -30
    assert rms_dbfs(audio[:, 1], 4.2, 5.8) < -50
    assert rms_dbfs(audio[:, 1], 1.2, 2.8) > -30
    assert rms_dbfs(audio[:, 0], 1.2, 2.8) < -50
    truth = truth_segments(scene.world, rec)
    assert truth == {"channel1": [(4000, 6000)], "channel2": [(1000, 3000)]}


def test_line_noise_sits_at_the_timeline_level_on_both_channels() -> None:
    scene = build_scene(noise_dbfs=-42.0)
    audio = render_recording(scene.world, record(scene, scene.customer, 0.0, 20.0))
    for channel in (0, 1):
        assert rms_dbfs(audio[:, channel], 0, 20) == pytest.approx(-42.0, abs=1.5)


def _two_recordings(behavior: str) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.int16]]:
    """The same leg recorded twice over 0-10 s: plainly, and with a pause from 3 to 5 s."""
    scene = build_scene(utterances=[(CUSTOMER, 1.0, 9.0), ("agent", 2.0, 8.0)], noise_dbfs=-50)
    world = scene.world
    plain = world.start_recording(scene.customer, channels=2)
    paused = world.start_recording(scene.customer, channels=2)
    advance_to(world, 3.0)
    world.pause_recording(paused, "skip" if behavior == "skip" else "silence")
    advance_to(world, 5.0)
    world.resume_recording(paused)
    advance_to(world, 10.0)
    world.finish_recording(plain)
    world.finish_recording(paused)
    return render_recording(world, plain), render_recording(world, paused)


def test_skip_pause_cuts_its_span_out_of_the_media() -> None:
    plain, paused = _two_recordings("skip")
    assert len(plain) == 10 * SR
    assert len(paused) == 8 * SR
    expected = np.concatenate([plain[: 3 * SR], plain[5 * SR :]])
    np.testing.assert_array_equal(paused, expected)


def test_silence_pause_keeps_its_length_with_digital_silence() -> None:
    plain, paused = _two_recordings("silence")
    assert len(paused) == len(plain)
    assert not paused[3 * SR : 5 * SR].any()
    np.testing.assert_array_equal(paused[: 3 * SR], plain[: 3 * SR])
    np.testing.assert_array_equal(paused[5 * SR :], plain[5 * SR :])
    assert np.abs(plain[3 * SR : 5 * SR]).max() > 1000  # there was speech to silence


def test_truth_follows_pauses() -> None:
    scene = build_scene(utterances=[(CUSTOMER, 1.0, 4.0), ("agent", 6.0, 8.0)])
    world = scene.world
    rec = world.start_recording(scene.customer, channels=2)
    advance_to(world, 2.0)
    world.pause_recording(rec, "skip")
    advance_to(world, 5.0)
    world.resume_recording(rec)
    advance_to(world, 10.0)
    world.finish_recording(rec)
    assert truth_segments(world, rec) == {"channel1": [(1000, 2000)], "channel2": [(3000, 5000)]}


def test_recording_that_starts_late_misses_the_start() -> None:
    scene = build_scene(utterances=[(CUSTOMER, 1.0, 4.0), ("agent", 5.0, 7.0)])
    world = scene.world
    early = world.start_recording(scene.customer, channels=2)
    advance_to(world, 3.0)
    late = world.start_recording(scene.customer, channels=2)
    advance_to(world, 8.0)
    world.finish_recording(early)
    world.finish_recording(late)
    full, tail = render_recording(world, early), render_recording(world, late)
    assert len(tail) == 5 * SR
    np.testing.assert_array_equal(tail, full[3 * SR :])
    assert truth_segments(world, late) == {"channel1": [(0, 1000)], "channel2": [(2000, 4000)]}


def test_hold_music_is_heard_only_on_channel_2_of_the_customer_leg_while_on_hold() -> None:
    scene = build_scene(
        utterances=[("agent", 1.0, 2.0), ("agent", 4.0, 6.0), (CUSTOMER, 4.5, 5.5)],
        holds=[(3.0, 7.0)],
        noise_dbfs=-60,
    )
    world = scene.world
    on_customer = world.start_recording(scene.customer, channels=2)
    on_agent = world.start_recording(scene.agent, channels=2)
    advance_to(world, 9.0)
    world.finish_recording(on_customer)
    world.finish_recording(on_agent)
    cust = render_recording(world, on_customer)
    agent = render_recording(world, on_agent)
    assert rms_dbfs(cust[:, 1], 3.0, 4.0) == pytest.approx(-25.0, abs=2.0)  # music alone
    assert rms_dbfs(cust[:, 1], 7.5, 9.0) < -55  # music stops with the hold
    assert rms_dbfs(cust[:, 1], 1.0, 2.0) > -30  # the agent before the hold is heard
    # The agent keeps talking on hold: the customer hears music instead, the agent's leg has it.
    assert rms_dbfs(agent[:, 0], 4.2, 5.8) > -30
    # The customer speaks on hold: the agent hears nothing of it, and no music either.
    assert rms_dbfs(cust[:, 0], 4.6, 5.4) > -30
    assert rms_dbfs(agent[:, 1], 3.0, 7.0) < -55
    truth = truth_segments(world, on_customer)
    assert truth["channel2"] == [(1000, 2000)]  # music is not speech
    assert truth_segments(world, on_agent)["channel2"] == []


def test_queue_audio_reaches_the_customer_before_the_agent_joins() -> None:
    scene = build_scene(utterances=[("agent", 6.0, 8.0)], queue_audio=[(0.5, 5.0)], join_s=5.0)
    rec = record(scene, scene.customer, 0.0, 9.0)
    audio = render_recording(scene.world, rec)
    assert rms_dbfs(audio[:, 1], 1.0, 4.5) == pytest.approx(-25.0, abs=2.0)
    assert rms_dbfs(audio[:, 0], 1.0, 4.5) < -55
    assert truth_segments(scene.world, rec)["channel2"] == [(6000, 8000)]


def test_agent_speech_before_joining_is_not_heard_by_the_customer() -> None:
    scene = build_scene(utterances=[("agent", 1.0, 2.0), ("agent", 4.0, 5.0)], join_s=3.0)
    rec = record(scene, scene.customer, 0.0, 6.0)
    assert truth_segments(scene.world, rec)["channel2"] == [(4000, 5000)]


@pytest.mark.parametrize(
    "track, loud_s", [("both", (1.5, 4.5)), ("inbound", (1.5,)), ("outbound", (4.5,))]
)
def test_mono_recording_holds_the_chosen_track(track: str, loud_s: tuple[float, ...]) -> None:
    scene = build_scene(utterances=[(CUSTOMER, 1.0, 2.0), ("agent", 4.0, 5.0)])
    world = scene.world
    rec = world.start_recording(scene.customer, channels=1, track=track)
    advance_to(world, 6.0)
    world.finish_recording(rec)
    audio = render_recording(world, rec)
    assert audio.shape == (6 * SR, 1)
    for at in (1.5, 4.5):
        level = rms_dbfs(audio[:, 0], at - 0.3, at + 0.3)
        assert (level > -30) == (at in loud_s)


def _render_fresh(seed: int) -> npt.NDArray[np.int16]:
    scene = build_scene(
        seed=seed, utterances=[(CUSTOMER, 0.5, 3.0), ("agent", 3.5, 6.0)], holds=[(6.5, 8.0)]
    )
    return render_recording(scene.world, record(scene, scene.customer, 0.0, 9.0))


def test_rendering_is_deterministic_for_a_seed() -> None:
    first, again, other = _render_fresh(5), _render_fresh(5), _render_fresh(6)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_a_running_recording_renders_up_to_now() -> None:
    scene = build_scene(utterances=[(CUSTOMER, 0.5, 1.5)])
    rec = scene.world.start_recording(scene.customer, channels=2)
    advance_to(scene.world, 2.5)
    assert render_recording(scene.world, rec).shape == (int(2.5 * SR), 2)


def test_other_sample_rates_render_the_same_span() -> None:
    scene = build_scene(utterances=[(CUSTOMER, 1.0, 2.0)])
    rec = record(scene, scene.customer, 0.0, 3.0)
    wide = render_recording(scene.world, rec, sample_rate_hz=16_000)
    assert wide.shape == (48_000, 2)
    part = wide[16_000:32_000, 0].astype(np.float64) / 32768.0
    assert 10 * np.log10(np.mean(part**2)) > -30


def test_samples_went_through_8_bit_mu_law_like_a_phone_call() -> None:
    scene = build_scene(utterances=[(CUSTOMER, 0.5, 2.5), ("agent", 3.0, 5.0)], noise_dbfs=-45)
    audio = render_recording(scene.world, record(scene, scene.customer, 0.0, 6.0))
    assert len(np.unique(audio)) <= 255  # 8-bit codes, zero counted once
    assert len(np.unique(audio)) > 100  # but the speech really spans the range
