"""What every transcription engine gives back: words with times, per channel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt


class TranscriptionError(Exception):
    """An engine failed on a recording (the archive job retries it later)."""


class EngineUnavailable(TranscriptionError):
    """An engine cannot run here: its package or model is missing, or it is not allowed."""


@dataclass(frozen=True)
class Word:
    """One recognised word: lower-case text, times in ms from the recording's start."""

    text: str
    start_ms: int
    end_ms: int
    confidence: float | None = None


class Transcriber(Protocol):
    """Turns one channel of a recording into words."""

    name: str

    def transcribe(self, samples: npt.NDArray[np.int16], sample_rate_hz: int) -> list[Word]:
        """Words of one channel (int16 samples), in time order."""
        ...
