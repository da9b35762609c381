"""A recording's word truth against its audio: card digits are where the truth says, audible
unless the agent paused, and the engine's card calls leave the event stream unchanged."""

from __future__ import annotations

import numpy as np
import pytest

import flexsim.scenarios  # noqa: F401 - registers the built-in scenarios the day draws
from flexsim import make_sample_conversation, render_recording
from flexsim.audio.word_truth import word_truth
from flexsim.engine import Engine, EngineConfig
from flexsim.variants import FRIENDLY
from flexsim.world import SimClock, World

SR = 8000


def _rms_dbfs(samples: np.ndarray) -> float:
    x = samples.astype(np.float64) / 32768.0
    return float(10 * np.log10(np.mean(x**2) + 1e-12))


def _card_digit_words(truth: dict) -> list[dict]:
    return [d for n in truth["numbers"] if n["card_data"] for d in n["digits"]]


@pytest.mark.parametrize("pause", ["in_time", "late", "never"])
def test_card_digits_are_heard_exactly_when_the_recording_was_not_paused(pause: str) -> None:
    sample = make_sample_conversation(21, duration_s=100.0, card_pause=pause, noise_dbfs=-60.0)
    recording = sample.customer_recording
    audio = render_recording(sample.world, recording)
    truth = word_truth(sample.world, recording.sid)
    assert truth is not None
    kinds = {(n["kind"], n["channel"]) for n in truth["numbers"] if n["card_data"]}
    assert ("card", "channel1") in kinds and ("security_code", "channel1") in kinds
    channel = {"channel1": 0, "channel2": 1}
    for number in truth["numbers"]:
        if not number["card_data"]:
            continue
        for digit in number["digits"]:
            a, b = digit["start_ms"] * SR // 1000, digit["end_ms"] * SR // 1000
            level = _rms_dbfs(audio[a:b, channel[number["channel"]]])
            if digit["audible"]:
                assert level > -40, (number["kind"], digit)  # a spoken word, not line noise
            else:
                assert not np.any(audio[a:b]), (number["kind"], digit)  # digital silence
    audible = {
        n["kind"]
        for n in truth["numbers"]
        if n["card_data"] and any(d["audible"] for d in n["digits"])
    }
    expected = {"in_time": set(), "late": {"card"}, "never": {"card", "expiry", "security_code"}}
    assert audible == expected[pause]


def test_word_truth_lists_the_words_of_both_channels_in_order() -> None:
    sample = make_sample_conversation(4, duration_s=40.0)
    truth = word_truth(sample.world, sample.customer_recording.sid)
    assert truth is not None
    for name in ("channel1", "channel2"):
        words = truth["channels"][name]
        assert len(words) > 20
        starts = [w["start_ms"] for w in words]
        assert starts == sorted(starts)
        assert all(0 <= w["start_ms"] < w["end_ms"] <= 40_000 for w in words)
    assert word_truth(sample.world, "RE" + "0" * 32) is None


def _day(card_share: float) -> tuple[list[tuple[str, float]], Engine]:
    world = World(SimClock(scale=0, start_epoch=1_800_000_000.0), seed=3)
    engine = Engine(
        world,
        EngineConfig(
            agents=3,
            seed=3,
            rate_per_hour=600,
            calls=10,
            variant_pins=dict(FRIENDLY),
            card_share=card_share,
        ),
    )
    engine.populate()
    events: list[tuple[str, float]] = []
    world.subscribe(lambda e: events.append((e.name, round(e.at, 6))))
    engine.start_traffic()
    engine.run_until_idle()
    return events, engine


def test_card_payments_change_what_is_said_not_the_event_stream() -> None:
    without, _ = _day(0.0)
    with_cards, engine = _day(1.0)
    assert without == with_cards
    payments = [
        world_tl.payment
        for world_tl in engine.world.timelines.values()
        if world_tl.payment is not None
    ]
    assert payments  # conversations long enough carried a payment
    assert {p.pause for p in payments} <= {"in_time", "late", "never"}
