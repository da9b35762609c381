"""REST latency: Twilio's ~100-300 ms by default, configurable, in simulated time."""

from __future__ import annotations

import statistics

import pytest

from flexsim.latency import DEFAULT_LATENCY, LatencyError, LatencyModel
from flexsim.runner import SimConfig


def test_the_default_answers_mostly_between_100_and_300_ms() -> None:
    assert SimConfig().rest_latency == DEFAULT_LATENCY
    model = LatencyModel.parse(DEFAULT_LATENCY, seed=3)
    assert model is not None
    samples = sorted(model.sample_s() * 1000 for _ in range(4000))
    assert 90 < samples[len(samples) // 20] < 115  # 5th percentile near 100 ms
    assert 270 < samples[len(samples) * 19 // 20] < 330  # 95th near 300 ms
    assert 150 < statistics.median(samples) < 195
    assert max(samples) <= 3000


def test_a_faster_clock_gets_proportionally_faster_answers() -> None:
    real = LatencyModel.parse("100-300", seed=1)
    fast = LatencyModel.parse("100-300", seed=1, scale=20.0)
    assert real is not None and fast is not None
    assert fast.sample_s() == pytest.approx(real.sample_s() / 20)


@pytest.mark.parametrize("spec", ["0", "", None])
def test_zero_turns_latency_off(spec: str | None) -> None:
    assert LatencyModel.parse(spec) is None


@pytest.mark.parametrize("spec", ["fast", "300-100", "-5"])
def test_a_bad_setting_is_refused(spec: str) -> None:
    with pytest.raises(LatencyError):
        LatencyModel.parse(spec)
