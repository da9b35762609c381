"""The stored waveform: one uint8 peak a bucket (version 2), compressed, read back within one
step and never quieter; version 1 (int8 max/min pairs, recordings analysed before) still read."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from testkit import version_1_waveform

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


def test_a_four_minute_call_is_stored_in_under_12_kb_with_8_bits_of_amplitude() -> None:
    # Version 1 kept this call in ~17 KB; one peak a bucket instead of a pair halves the body.
    audio = _call(240.0)
    stats = frame_stats(audio, RATE)
    blob = encode_waveform(stats)
    assert len(blob) <= 12_000
    waveform = decode_waveform(blob)
    assert waveform.version == 2
    assert waveform.buckets == stats.low.shape[1] == 240 * 50  # today's 50 buckets a second
    assert (waveform.channels, waveform.bucket_samples, waveform.sample_rate_hz) == (2, 160, RATE)
    assert waveform.duration_ms == 240_000
    # the loudest sample maps to the top of the uint8 range
    assert int(waveform.levels.max()) == 255
    assert waveform.full_scale == int(np.abs(audio.astype(np.int32)).max())


def test_amplitude_keeps_8_bits_whatever_the_recordings_loudness() -> None:
    # A quiet staircase (loudest sample -30 dBFS) still takes all 256 levels.
    ramp = np.repeat(np.arange(256) * 1000 // 255, 160).astype(np.int16)
    waveform = decode_waveform(encode_waveform(frame_stats(ramp, RATE)))
    assert waveform.full_scale == 1000
    assert len(np.unique(waveform.levels)) == 256


def test_each_peak_is_within_one_step_above_the_bucket_s_true_peak() -> None:
    audio = _call(60.0, seed=8)
    stats = frame_stats(audio, RATE)
    waveform = decode_waveform(encode_waveform(stats))
    true_peak = np.maximum(stats.high.astype(np.int32), -stats.low.astype(np.int32)) / 32768
    drawn = waveform.amplitude()
    assert np.all(drawn >= true_peak - 1e-6)
    assert np.all(drawn - true_peak <= waveform.step + 1e-6)
    # Equal to the same rounding done in float64 (no integer slip anywhere).
    full = waveform.full_scale
    assert np.array_equal(waveform.levels, np.ceil(true_peak * 32768 * 255 / full - 1e-9))


def test_the_peak_of_a_bucket_is_its_larger_side_even_at_minus_full_scale() -> None:
    audio = np.zeros((RATE, 2), np.int16)
    audio[:160, 0] = [16384, -32768] * 80  # -32768: its magnitude does not fit an int16
    audio[160:320, 0] = 8192
    audio[:160, 1] = -100
    waveform = decode_waveform(encode_waveform(frame_stats(audio, RATE)))
    assert waveform.full_scale == 32768
    assert waveform.levels[0, :3].tolist() == [255, 64, 0]  # 8192 * 255 / 32768 = 63.75, up
    assert waveform.levels[1, 0] == 1  # quiet, but never drawn flat
    shaped = waveform.wavesurfer()
    assert shaped["duration_s"] == 1.0 and shaped["buckets_per_s"] == 50
    # A mirrored envelope: max then min of each bucket, as wavesurfer.js takes peaks.
    assert shaped["channels"][0][:6] == [1.0, -1.0, pytest.approx(0.251, abs=1e-3),
                                         pytest.approx(-0.251, abs=1e-3), 0.0, 0.0]  # fmt: skip


def test_silence_stays_flat() -> None:
    stats = frame_stats(np.zeros((RATE * 2, 2), np.int16), RATE)
    waveform = decode_waveform(encode_waveform(stats))
    assert not waveform.levels.any()
    assert waveform.wavesurfer()["channels"] == [[0.0] * 200, [0.0] * 200]


def test_a_version_1_waveform_stored_before_still_reads_as_its_pairs() -> None:
    audio = _call(60.0, seed=8)
    stats = frame_stats(audio, RATE)
    old = decode_waveform(version_1_waveform(stats))
    assert (old.version, old.channels, old.buckets) == (1, 2, stats.low.shape[1])
    floats = old.as_floats().reshape(2, -1, 2)
    step = old.step
    assert np.all(floats[:, :, 0] >= stats.high / 32768 - 1e-6)
    assert np.all(floats[:, :, 1] <= stats.low / 32768 + 1e-6)
    assert np.all(floats[:, :, 0] - stats.high / 32768 <= step + 1e-6)
    # Its peaks and the version 2 ones draw the same envelope within a step of either.
    new = decode_waveform(encode_waveform(stats))
    assert np.abs(old.amplitude() - new.amplitude()).max() <= old.step + new.step
    assert old.wavesurfer()["channels"][0][:2] == pytest.approx(floats[0, 0].tolist(), abs=1e-4)


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
    assert np.abs(converted.levels.astype(int) - direct.levels).max() <= 1


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"not zlib",
        zlib.compress(b"FXWF"),
        zlib.compress(b"XXXX" + bytes(20)),
        zlib.compress(struct.pack("<4sBBHIIIH", b"FXWF", 3, 1, 160, 8000, 1, 20, 1) + b"\x01"),
        zlib.compress(struct.pack("<4sBBHIIIH", b"FXWF", 2, 1, 160, 8000, 2, 40, 1) + b"\x01"),
        zlib.compress(struct.pack("<4sBBHIIIH", b"FXWF", 1, 1, 160, 8000, 1, 20, 1) + b"\x01"),
    ],
)
def test_anything_else_is_refused(blob: bytes) -> None:
    with pytest.raises(WaveformError):
        decode_waveform(blob)
