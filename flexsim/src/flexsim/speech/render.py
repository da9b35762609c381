"""An utterance's audio: its words' clips laid at their times, silence between them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from flexsim.speech import bank as bank_module
from flexsim.speech.bank import BANK_RATE_HZ, Bank
from flexsim.speech.script import filler, voice_of
from flexsim.words import Word

FloatArray = npt.NDArray[np.float32]
CLIP_RMS = 0.1  # the bank's active-speech level (-20 dBFS)


def utterance_words(
    seed: int, speaker: str, start: float, end: float, words: tuple[Word, ...]
) -> tuple[Word, ...]:
    """The words of an utterance: its scripted ones, else the filler for its seed and span."""
    return words if words else filler(seed, speaker, start, end)


@lru_cache(maxsize=256)
def utterance_audio(
    seed: int, speaker: str, start: float, end: float, words: tuple[Word, ...], sr: int
) -> FloatArray:
    """Samples of the whole utterance at `sr` (unit scale: 1.0 = the bank's -20 dBFS)."""
    n = max(0, round((end - start) * sr))
    out = np.zeros(n, np.float32)
    voice = voice_of(seed, speaker)
    for word in utterance_words(seed, speaker, start, end, words):
        clip = voice.word(word.text)
        if sr != BANK_RATE_HZ:
            count = max(1, round(len(clip) * sr / BANK_RATE_HZ))
            grid = np.linspace(0, len(clip) - 1, count)
            clip = np.interp(grid, np.arange(len(clip)), clip).astype(np.float32)
        at = round((word.start - start) * sr)
        if at >= n:
            break
        take = min(len(clip), n - at)
        out[at : at + take] += clip[:take]
    out /= np.float32(CLIP_RMS)
    out.setflags(write=False)
    return out


@contextmanager
def speaking_with(bank: Bank) -> Iterator[None]:
    """Calls rendered inside the block take their word clips from `bank` (not thread-safe)."""
    original: Any = bank_module.load_bank
    bank_module.load_bank = lambda: bank  # type: ignore[assignment]
    _clear_caches()
    try:
        yield
    finally:
        bank_module.load_bank = original
        _clear_caches()


def _clear_caches() -> None:
    # Rendered clips and utterances were cut from the bank in force when they were cached.
    bank_module._word_at_rate.cache_clear()
    utterance_audio.cache_clear()
