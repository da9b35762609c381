"""A mono recording: talk and silence measured from its one channel, pauses left out."""

from __future__ import annotations

import numpy as np
import pytest

from flexrec.analysis import (
    analyse_mono,
    analyse_mono_power,
    detect_speech,
    frame_scores,
    frame_stats,
)
from flexsim import make_sample_conversation, render_recording, truth_segments

SR = 8000


def test_talk_of_both_sides_mixed_in_one_channel_is_measured() -> None:
    conv = make_sample_conversation(11, duration_s=60.0, noise_dbfs=-50.0)
    stereo = render_recording(conv.world, conv.customer_recording).astype(np.float32) / 32768.0
    mixed = stereo.mean(axis=1, keepdims=True)  # what a mono recording of the leg holds
    truth = truth_segments(conv.world, conv.customer_recording)
    either = sorted([*truth["channel1"], *truth["channel2"]])
    result = analyse_mono(mixed, SR)
    assert result.duration_ms == 60_000
    found = [(s.start_ms, s.end_ms) for s in result.segments]
    precision, recall = frame_scores(found, either, result.duration_ms)
    assert precision > 0.9 and recall > 0.9
    assert result.talk_ms + result.silence_ms == result.duration_ms
    assert result.longest_speech_ms == max(b - a for a, b in found)
    assert result.first_words_ms == found[0][0]


def test_paused_spans_count_as_neither_talk_nor_silence() -> None:
    conv = make_sample_conversation(12, duration_s=40.0, noise_dbfs=-50.0)
    audio = render_recording(conv.world, conv.customer_recording)[:, 0]
    whole = analyse_mono(audio, SR)
    paused = analyse_mono(audio, SR, paused=[(10_000, 20_000)])
    assert paused.paused_ms == 10_000
    assert paused.talk_ms + paused.silence_ms == paused.duration_ms - 10_000
    assert paused.talk_ms < whole.talk_ms
    assert all(s.end_ms <= 10_000 or s.start_ms >= 20_000 for s in paused.segments)
    assert whole.segments == tuple(detect_speech(audio, SR))


def test_two_channels_are_refused() -> None:
    with pytest.raises(ValueError, match="one channel"):
        analyse_mono(np.zeros((800, 2), np.int16), SR)


def test_frame_powers_give_the_same_figures_as_the_samples() -> None:
    # The archive analyses from the frame powers its one pass over the WAV computes.
    conv = make_sample_conversation(13, duration_s=30.0, noise_dbfs=-50.0)
    audio = render_recording(conv.world, conv.customer_recording)[:, :1]
    stats = frame_stats(audio, SR)
    from_power = analyse_mono_power(stats.power, stats.duration_ms, paused=[(5_000, 8_000)])
    from_samples = analyse_mono(audio, SR, paused=[(5_000, 8_000)])
    assert from_power == from_samples
    assert from_power.talk_ms > 0
