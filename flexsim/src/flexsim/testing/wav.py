"""Small test media: a WAV a test can arrange as a recording's media (`completed_recording`)."""

from __future__ import annotations

import io

import numpy as np
import soundfile


def make_wav(
    duration_s: float = 2.0,
    sample_rate_hz: int = 8000,
    channels: int = 2,
    seed: int = 1,
) -> bytes:
    """A PCM-16 WAV: faint line noise, and one speech-like burst per channel at its own time
    (channel n's starts n / (2 * channels) of the way in and lasts a third of the file).

    Bursts are noise shaped by a ~4 Hz syllable envelope, which voice activity detection takes
    for speech (steady noise or a pure tone it would not). Deterministic for a seed.
    """
    rng = np.random.default_rng(seed)
    frames = int(duration_s * sample_rate_hz)
    audio = rng.normal(0.0, 0.002, (frames, channels)).astype(np.float32)
    burst = frames // 3
    t = np.arange(burst) / sample_rate_hz
    envelope = np.clip(np.sin(2 * np.pi * 4.0 * t), 0.2, 1.0)
    for index in range(channels):
        start = (index * frames) // (2 * channels)
        audio[start : start + burst, index] += (rng.uniform(-0.5, 0.5, burst) * envelope).astype(
            np.float32
        )
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, sample_rate_hz, format="WAV", subtype="PCM_16")
    return buffer.getvalue()
