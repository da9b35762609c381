"""The compiled detector steps make numpy's decisions bit for bit: the same speech and music
frames and the same segments, on edge cases, odd thresholds and simulated channels."""

from __future__ import annotations

import os

import numpy as np
import pytest

from flexrec.analysis import VadConfig, vad
from flexrec.analysis.frames import frame_stats
from flexrec.analysis.segments import Segment
from flexrec.analysis.vad import detect_speech_from_power, speech_frames_from_power
from flexsim import make_sample_conversation, render_recording

SR = 8000


@pytest.fixture(scope="module")
def compiled() -> None:
    if not vad.COMPILED:
        # CI builds flexrec from a fresh clone with a C compiler: there it must be built.
        assert not os.environ.get("FLEXREC_CI"), "the compiled detector was not built in CI"
        pytest.skip("flexrec.analysis._vad is not built here (no C compiler at install)")


def _powers() -> list[tuple[str, np.ndarray]]:
    """Frame powers around the detector's edges: no frames, fewer than a window or a block,
    digital silence, steady tones (music), bursts on a floor, flat lines, every magnitude."""
    rng = np.random.default_rng(18)
    cases: list[tuple[str, np.ndarray]] = [
        ("empty", np.zeros(0, np.float32)),
        ("one frame", np.full(1, 0.01, np.float32)),
        ("digital silence", np.zeros(600, np.float32)),
        ("full scale", np.ones(400, np.float32)),
        ("steady tone", np.full(700, 1e-3, np.float32)),
    ]
    for n in (2, 24, 25, 26, 29, 30, 31, 149, 150, 151, 1001):
        cases.append((f"random {n}", (10 ** rng.uniform(-13, 0, n)).astype(np.float32)))
        on = np.repeat(rng.random(n // 5 + 1) < 0.5, 5)[:n]
        bursts = np.where(on, 10 ** rng.uniform(-4, -2, n), 1e-7).astype(np.float32)
        cases.append((f"bursts on a floor {n}", bursts))
    wobble = 1e-4 * (1 + rng.choice([0.05, 0.3, 0.8]) * np.sin(np.arange(2000) / 2.0))
    cases.append(("modulated", wobble.astype(np.float32)))
    # A tone on a quiet line with every tenth frame barely above the floor: every music
    # window then holds exactly the share of sounding frames the test asks for (27 of 30).
    dips = np.full(800, 1e-9, np.float32)
    dips[300:500] = np.where(np.arange(200) % 10 == 0, 1.5e-9, 1e-5)
    cases.append(("a share of exactly 0.9", dips))
    gappy = (10 ** rng.uniform(-6, -3, 3000)).astype(np.float32)
    gappy[rng.random(3000) < 0.3] = 0.0  # digital silence inside blocks
    cases.append(("gappy", gappy))
    return cases


def _configs() -> list[VadConfig]:
    """The default and thresholds that are not float32 numbers, nor whole frames or blocks."""
    return [
        VadConfig(),
        VadConfig(snr_db=1.1, music_max_cv=0.3333, music_min_active=0.7, floor_percentile=33.3),
        VadConfig(floor_percentile=0.0, floor_block_ms=20, music_window_ms=100, pad_ms=0),
        VadConfig(floor_percentile=100.0, floor_block_ms=2000, min_burst_ms=30, max_gap_ms=45),
        VadConfig(music_max_cv=0.9, music_min_active=0.1, min_speech_ms=0, pad_ms=500),
        VadConfig(music_max_cv=0.5),
    ]


def _assert_same(power: np.ndarray, config: VadConfig, name: str) -> None:
    speech, music = speech_frames_from_power(power, config, engine="numpy")
    got_speech, got_music = speech_frames_from_power(power, config, engine="compiled")
    assert np.array_equal(speech, got_speech), name
    assert np.array_equal(music, got_music), name
    expected = detect_speech_from_power(power, config, engine="numpy")
    got = detect_speech_from_power(power, config, engine="compiled")
    assert got == expected, name
    assert all(type(s) is Segment for s in got)


@pytest.mark.parametrize("config", _configs(), ids=range(len(_configs())))
def test_compiled_detector_equals_numpy(compiled: None, config: VadConfig) -> None:
    for name, power in _powers():
        _assert_same(power, config, name)


def test_compiled_detector_equals_numpy_on_simulated_calls(compiled: None) -> None:
    found_music = False
    for seed, hold_s, noise_dbfs in ((2, 25.0, -55.0), (4, 20.0, -40.0), (7, 0.0, -32.0)):
        conv = make_sample_conversation(seed, duration_s=90.0, hold_s=hold_s, noise_dbfs=noise_dbfs)
        stats = frame_stats(render_recording(conv.world, conv.customer_recording), SR)
        for channel in stats.power:
            _assert_same(channel, VadConfig(), f"seed {seed}")
            found_music |= bool(speech_frames_from_power(channel, VadConfig())[1].any())
    assert found_music  # the music test really ran


def test_compiled_detector_reads_strided_powers_and_leaves_others_to_numpy(
    compiled: None,
) -> None:
    power = (10 ** np.random.default_rng(3).uniform(-8, -1, 4000)).astype(np.float32)
    _assert_same(power[::2], VadConfig(), "strided")
    # float64 powers round differently in numpy's steps: the compiled engine hands them over.
    wide = power.astype(np.float64)
    assert detect_speech_from_power(wide, engine="compiled") == detect_speech_from_power(  # type: ignore[arg-type]
        wide,  # type: ignore[arg-type]
        engine="numpy",
    )
