"""What one channel can tell: talk and silence of a mono recording, with nobody to tell apart.

A mono recording (a Studio flow's default, another tool's) mixes both sides into one channel,
so who spoke, cross-talk, interruptions and the talk ratio cannot be measured; how much of the
call anyone talked, how much was silence and the longest stretch of speech can.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from flexrec.analysis.metrics import compute_metrics
from flexrec.analysis.segments import Segment
from flexrec.analysis.vad import VadConfig, detect_speech, detect_speech_from_power


@dataclass(frozen=True)
class MonoAnalysis:
    """Talk and silence of a one-channel recording (ms, paused spans left out)."""

    duration_ms: int
    paused_ms: int
    talk_ms: int  # anyone talking
    silence_ms: int
    longest_speech_ms: int
    first_words_ms: int | None
    segments: tuple[Segment, ...]
    vad_config_version: str


def analyse_mono(
    audio: npt.NDArray[np.generic],
    sample_rate_hz: int,
    paused: Iterable[tuple[int, int]] = (),
    vad_config: VadConfig | None = None,
) -> MonoAnalysis:
    """Speech on the one channel of a (n,) or (n, 1) recording, and the figures it gives."""
    if audio.ndim == 2 and audio.shape[1] == 1:
        audio = audio[:, 0]
    if audio.ndim != 1:
        raise ValueError(f"expected one channel of audio, got shape {audio.shape}")
    config = vad_config or VadConfig()
    duration_ms = len(audio) * 1000 // sample_rate_hz
    return _figures(detect_speech(audio, sample_rate_hz, config), duration_ms, paused, config)


def analyse_mono_power(
    power: npt.NDArray[np.float32],
    duration_ms: int,
    paused: Iterable[tuple[int, int]] = (),
    vad_config: VadConfig | None = None,
) -> MonoAnalysis:
    """`analyse_mono` from the one channel's frame powers, (frames,) or (1, frames), as
    `flexrec.analysis.frames` computes them in the same pass as the waveform."""
    if power.ndim == 2 and power.shape[0] == 1:
        power = power[0]
    if power.ndim != 1:
        raise ValueError(f"expected one channel's frame powers, got shape {power.shape}")
    config = vad_config or VadConfig()
    return _figures(detect_speech_from_power(power, config), duration_ms, paused, config)


def _figures(
    speech: list[Segment],
    duration_ms: int,
    paused: Iterable[tuple[int, int]],
    config: VadConfig,
) -> MonoAnalysis:
    # One side holding every segment gives the pause-aware talk and silence totals.
    figures = compute_metrics(speech, (), duration_ms, paused)
    return MonoAnalysis(
        duration_ms=figures.duration_ms,
        paused_ms=figures.paused_ms,
        talk_ms=figures.total_talk_ms,
        silence_ms=figures.silence_ms,
        longest_speech_ms=figures.longest_customer_monologue_ms,
        first_words_ms=figures.customer_first_words_ms,
        segments=tuple(Segment(s.start_ms, s.end_ms) for s in figures.segments),
        vad_config_version=config.version,
    )
