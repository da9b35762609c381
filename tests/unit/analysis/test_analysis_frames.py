"""One pass over 16-bit samples gives each frame's extremes and power, as separate passes would."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from flexrec.analysis import (
    analyse_frame_power,
    analyse_recording,
    digital_silence,
    frame_power,
    frame_stats,
)

RATE = 8000
F = 160  # samples in a 20 ms frame at 8 kHz


def _noise(frames: int, channels: int = 2, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(-20000, 20000, size=(frames, channels), dtype=np.int16)


def _silence_sample_by_sample(audio: np.ndarray, rate: int, min_ms: int) -> list[tuple[int, int]]:
    silent = np.all(audio == 0, axis=1).astype(np.int8)
    edges = np.diff(np.concatenate(([0], silent, [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [
        (int(a) * 1000 // rate, int(b) * 1000 // rate)
        for a, b in zip(starts, ends, strict=True)
        if b - a >= min_ms * rate // 1000
    ]


def test_extremes_cover_every_bucket_and_the_partial_last_one() -> None:
    audio = _noise(F * 2500 + 37)  # not a whole number of frames
    stats = frame_stats(audio, RATE)
    assert stats.low.shape == stats.high.shape == (2, 2501)
    assert stats.power.shape == (2, 2500)  # whole frames only
    for channel in range(2):
        for bucket in (0, 1, 1000, 2499, 2500):
            chunk = audio[bucket * F : (bucket + 1) * F, channel]
            assert stats.low[channel, bucket] == chunk.min()
            assert stats.high[channel, bucket] == chunk.max()


def test_power_is_the_exact_mean_square_at_full_scale_rounded_once() -> None:
    audio = _noise(F * 3000 + 5)
    audio[7 * F : 8 * F] = -32768  # the largest square, a whole frame of it
    power = frame_stats(audio, RATE).power
    for channel in range(2):
        frames = audio[: 3000 * F, channel].astype(np.int64).reshape(3000, F)
        exact = (frames * frames).sum(axis=1)  # integers: no rounding at all
        expected = exact.astype(np.float32) * np.float32(2.0**-30) / np.float32(F)
        np.testing.assert_array_equal(power[channel], expected)
    assert power[0, 7] == power[1, 7] == 1.0
    # the power alone (no extremes) is the same, and float input is taken as it is
    np.testing.assert_array_equal(frame_power(audio, RATE), power)
    scaled = audio.astype(np.float32) * np.float32(1 / 32768)
    np.testing.assert_allclose(frame_power(scaled, RATE), power, rtol=1e-5)


def _strided(audio: np.ndarray) -> np.ndarray:
    wider = np.zeros((len(audio), 3), np.int16)
    wider[:, :2] = audio
    return wider[:, :2]  # every row 6 bytes apart: not contiguous


def _unaligned(audio: np.ndarray) -> np.ndarray:
    # A WAV whose data starts 2 bytes past a multiple of 4 (an 18-byte fmt chunk does that).
    raw = np.frombuffer(b"\0\0" + audio.tobytes(), "<i2", offset=2)
    return raw.reshape(audio.shape)


@pytest.mark.parametrize("layout", [_strided, _unaligned, np.asfortranarray])
def test_every_memory_layout_of_stereo_gives_the_same_frames(
    layout: Callable[[np.ndarray], np.ndarray],
) -> None:
    audio = _noise(F * 2100 + 3, seed=4)
    audio[5 * F : 6 * F] = [-32768, 32767]  # both extremes, one per channel
    other = layout(audio)
    assert np.array_equal(other, audio) and other.ctypes.data != audio.ctypes.data
    expected, got = frame_stats(audio, RATE), frame_stats(other, RATE)
    for channel in range(2):
        chunk = audio[5 * F : 6 * F, channel]
        assert expected.low[channel, 5] == chunk.min() and expected.high[channel, 5] == chunk.max()
    np.testing.assert_array_equal(got.low, expected.low)
    np.testing.assert_array_equal(got.high, expected.high)
    np.testing.assert_array_equal(got.power, expected.power)


def test_mono_is_one_channel() -> None:
    audio = _noise(F * 10, channels=1)[:, 0]
    stats = frame_stats(audio, RATE)
    assert stats.channels == 1 and stats.frames == 10
    assert stats.high[0, 3] == audio[3 * F : 4 * F].max()


@pytest.mark.parametrize("channels", [1, 2])
def test_digital_silence_spans_are_those_of_a_sample_by_sample_search(channels: int) -> None:
    audio = _noise(RATE * 30, channels)
    # silent runs starting and ending mid-frame, on frame edges, at both ends, too short
    for start, end in [(0, 9_001), (20_017, 31_000), (40_000, 48_000), (60_003, 67_990),
                       (100_001, 140_159), (232_000, 240_000)]:  # fmt: skip
        audio[start:end] = 0
    audio[150_000:170_000, 0] = 0  # one channel only: not a pause when there are two
    stats = frame_stats(audio, RATE)
    assert digital_silence(audio, stats, 1000) == _silence_sample_by_sample(audio, RATE, 1000)


def test_digital_silence_needs_runs_of_at_least_two_frames() -> None:
    audio = _noise(RATE)
    with pytest.raises(ValueError, match="two frames"):
        digital_silence(audio, frame_stats(audio, RATE), 30)


def test_analysis_from_frame_powers_equals_analysis_of_the_samples() -> None:
    from flexsim import make_sample_conversation, render_recording

    conversation = make_sample_conversation(5, duration_s=60.0, hold_s=10.0)
    samples = render_recording(conversation.world, conversation.customer_recording)
    stats = frame_stats(samples, RATE)
    whole = analyse_recording(samples, RATE)
    framed = analyse_frame_power(stats.power, stats.duration_ms)
    assert framed == whole
    assert whole.metrics.customer_talk_ms > 0 and whole.metrics.agent_talk_ms > 0
