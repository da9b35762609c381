"""The stored waveform: int8 max/min pairs, compressed, read back within one step, never quieter."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from flexrec.analysis import frame_stats
from flexrec.archive.waveform import (
    WaveformError,
    decode_waveform,
    encode_waveform,
    waveform_from_peaks,
)
from flexsim import make_sample_conversation, render_recording

RATE = 8000


def _call(seconds: float, seed: int = 3) -> np.ndarray:
    conversation = make_sample_conversation(seed, duration_s=seconds, hold_s=20.0)
    return render_recording(conversation.world, conversation.customer_recording)


def test_a_four_minute_call_is_stored_in_under_20_kb_with_8_bits_of_amplitude() -> None:
    # The simulator's mix averages ~2.5 minutes a recording (~9 KB); a busy 5-minute one ~20 KB.
    audio = _call(240.0)
    stats = frame_stats(audio, RATE)
    blob = encode_waveform(stats)
    assert len(blob) <= 20_000
    waveform = decode_waveform(blob)
    assert waveform.buckets == stats.low.shape[1] == 240 * 50  # today's 50 buckets a second
    assert (waveform.channels, waveform.bucket_samples, waveform.sample_rate_hz) == (2, 160, RATE)
    assert waveform.duration_ms == 240_000
    # the loudest sample maps to the end of the int8 range
    assert int(np.abs(waveform.pairs).max()) == 127


def test_amplitude_keeps_8_bits_whatever_the_recordings_loudness() -> None:
    # A quiet ramp (loudest sample -30 dBFS) still takes all 255 levels.
    ramp = np.linspace(-1000, 1000, 255 * 160).round().astype(np.int16)
    waveform = decode_waveform(encode_waveform(frame_stats(ramp, RATE)))
    assert waveform.full_scale == 1000
    assert len(np.unique(waveform.pairs)) == 255


def test_read_back_each_bucket_is_within_one_step_and_never_inside_the_true_envelope() -> None:
    audio = _call(60.0, seed=8)
    stats = frame_stats(audio, RATE)
    waveform = decode_waveform(encode_waveform(stats))
    floats = waveform.as_floats().reshape(2, -1, 2)
    step = waveform.full_scale / 127 / 32768
    true_high, true_low = stats.high / 32768, stats.low / 32768
    assert np.all(floats[:, :, 0] >= true_high - 1e-6)
    assert np.all(floats[:, :, 1] <= true_low + 1e-6)
    assert np.all(floats[:, :, 0] - true_high <= step + 1e-6)
    assert np.all(true_low - floats[:, :, 1] <= step + 1e-6)


def test_silence_stays_flat() -> None:
    stats = frame_stats(np.zeros((RATE * 2, 2), np.int16), RATE)
    waveform = decode_waveform(encode_waveform(stats))
    assert not waveform.pairs.any()
    assert waveform.wavesurfer()["channels"] == [[0.0] * 200, [0.0] * 200]


def test_wavesurfer_form_is_max_then_min_per_bucket() -> None:
    audio = np.zeros((RATE, 2), np.int16)
    audio[:160, 0] = [16384, -8192] * 80  # first bucket of the first channel
    waveform = decode_waveform(encode_waveform(frame_stats(audio, RATE)))
    shaped = waveform.wavesurfer()
    assert shaped["duration_s"] == 1.0 and shaped["buckets_per_s"] == 50
    step = 1 / 254  # full scale is the loudest sample, 0.5: one int8 step is 0.5 / 127
    assert shaped["channels"][0][:4] == [0.5, pytest.approx(-0.25, abs=step), 0.0, 0.0]


def test_peaks_stored_as_json_before_convert_to_the_same_waveform() -> None:
    audio = _call(30.0, seed=4)
    # As the JSON column held them: per channel, min and max of each bucket, 4 decimals.
    stats = frame_stats(audio, RATE)
    legacy = {
        "version": 1,
        "sample_rate_hz": RATE,
        "bucket_samples": 160,
        "duration_ms": stats.duration_ms,
        "channels": [
            {
                "label": label,
                "min": np.round(stats.low[i] / 32768, 4).tolist(),
                "max": np.round(stats.high[i] / 32768, 4).tolist(),
            }
            for i, label in enumerate(("customer", "agent"))
        ],
    }
    converted = decode_waveform(waveform_from_peaks(legacy))
    direct = decode_waveform(encode_waveform(stats))
    assert converted.buckets == direct.buckets
    assert np.abs(converted.pairs.astype(int) - direct.pairs).max() <= 1


@pytest.mark.parametrize(
    "blob",
    [b"", b"not zlib", zlib.compress(b"FXWF"), zlib.compress(b"XXXX" + bytes(20))],
)
def test_anything_else_is_refused(blob: bytes) -> None:
    with pytest.raises(WaveformError):
        decode_waveform(blob)
