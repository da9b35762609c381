"""How telephone audio is fed to a recogniser: only where someone speaks, at the model's rate.

Twilio records 8 kHz; pocketsphinx's and Whisper's models are 16 kHz. Upsampling fills the band
the model expects below 4 kHz and leaves 4-8 kHz empty, which the 16 kHz model tolerates far
better than an 8 kHz front end with its filter bank cut at 3.5 kHz (measured on simulator
speech: digit word error 10% upsampled against over 80% at 8 kHz; tests/unit/transcription).
Silence is not decoded at all: the VAD's speech regions, padded and split at long pauses, are
the utterances, which is most of the speed-up on a two-channel call.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from flexrec.analysis import VadConfig, detect_speech

REGION_PAD_MS = 150
REGION_JOIN_MS = 400  # regions closer than this are one utterance
REGION_MAX_MS = 25_000  # longer speech is cut at its quietest point near this length


@dataclass(frozen=True)
class Region:
    """A stretch of one channel to decode, in ms."""

    start_ms: int
    end_ms: int


def speech_regions(samples: npt.NDArray[np.int16], sample_rate_hz: int) -> list[Region]:
    """Where the channel has speech (VAD), padded, joined across short gaps, length-capped."""
    total_ms = len(samples) * 1000 // sample_rate_hz
    regions: list[Region] = []
    for segment in detect_speech(samples, sample_rate_hz, VadConfig()):
        start = max(0, segment.start_ms - REGION_PAD_MS)
        end = min(total_ms, segment.end_ms + REGION_PAD_MS)
        if regions and start - regions[-1].end_ms <= REGION_JOIN_MS:
            regions[-1] = Region(regions[-1].start_ms, end)
        else:
            regions.append(Region(start, end))
    out: list[Region] = []
    for region in regions:
        start = region.start_ms
        while region.end_ms - start > REGION_MAX_MS:
            cut = _quietest_ms(
                samples, sample_rate_hz, start + REGION_MAX_MS - 5000, start + REGION_MAX_MS
            )
            out.append(Region(start, cut))
            start = cut
        out.append(Region(start, region.end_ms))
    return out


def _quietest_ms(samples: npt.NDArray[np.int16], rate: int, lo_ms: int, hi_ms: int) -> int:
    frame = rate // 50  # 20 ms
    a, b = lo_ms * rate // 1000, hi_ms * rate // 1000
    chunk = samples[a:b].astype(np.float32)
    usable = len(chunk) // frame * frame
    if usable == 0:
        return hi_ms
    energy = (chunk[:usable].reshape(-1, frame) ** 2).mean(axis=1)
    return lo_ms + int(np.argmin(energy)) * 20


@lru_cache(maxsize=4)
def _half_band(taps: int = 63) -> npt.NDArray[np.float32]:
    n = np.arange(taps) - taps // 2
    h = 0.5 * np.sinc(0.5 * n) * np.blackman(taps)
    out: npt.NDArray[np.float32] = (2 * h / h.sum()).astype(np.float32)
    return out


def upsample_2x(samples: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
    """8 -> 16 kHz: zeros between samples, then a half-band low-pass (no images above 4 kHz)."""
    stuffed = np.zeros(len(samples) * 2, np.float32)
    stuffed[::2] = samples
    out = np.convolve(stuffed, _half_band(), mode="same")
    clipped: npt.NDArray[np.int16] = np.clip(np.rint(out), -32768, 32767).astype(np.int16)
    return clipped


def to_16k(samples: npt.NDArray[np.int16], sample_rate_hz: int) -> npt.NDArray[np.int16]:
    """The samples at 16 kHz (8 kHz upsampled; 16 kHz as is)."""
    if sample_rate_hz == 16000:
        return samples
    if sample_rate_hz == 8000:
        return upsample_2x(samples)
    raise ValueError(f"unsupported sample rate {sample_rate_hz} Hz (8000 or 16000)")
