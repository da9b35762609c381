"""The shipped word clip bank: one clip per word and voice, 8 kHz G.711 mu-law.

`make demo` needs no speech synthesiser: words are read from `bank.npz` (built by
`flexsim/tools/build_speech_bank.py` with CMU Flite) and strung together at run time. A
speaker is a bank voice played slightly faster or slower (pitch and pace move together, as a
tape would), so a day of calls has more voices than the bank holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

BANK_PATH = Path(__file__).with_name("bank.npz")
BANK_VOICES = ("slt", "rms", "awb", "kal16")  # Flite: one female, three male voices
BANK_RATE_HZ = 8000
_MU = 255.0


def mulaw_encode(x: npt.NDArray[np.floating]) -> npt.NDArray[np.uint8]:
    """Float samples in [-1, 1] to 8-bit mu-law codes (sign and 7-bit magnitude, as int8)."""
    code = np.rint(np.sign(x) * np.log1p(_MU * np.abs(x)) / np.log1p(_MU) * 127.0)
    out: npt.NDArray[np.uint8] = code.astype(np.int8).view(np.uint8)
    return out


def mulaw_decode(codes: npt.NDArray[np.uint8]) -> FloatArray:
    """8-bit mu-law codes back to float samples."""
    c = codes.view(np.int8).astype(np.float32)
    out: FloatArray = (np.sign(c) * ((1.0 + _MU) ** (np.abs(c) / 127.0) - 1.0) / _MU).astype(
        np.float32
    )
    return out


class UnknownWord(KeyError):
    """A script asked for a word the bank has no clip of."""


@dataclass(frozen=True)
class Bank:
    """Every clip of every voice, decoded once."""

    index: dict[str, int]
    audio: dict[str, FloatArray]
    offsets: dict[str, npt.NDArray[np.int32]]

    def clip(self, voice: str, word: str) -> FloatArray:
        """The clip of `word` in bank voice `voice` (unit scale: -20 dBFS active speech)."""
        try:
            i = self.index[word]
        except KeyError:
            raise UnknownWord(word) from None
        start, end = self.offsets[voice][i], self.offsets[voice][i + 1]
        return self.audio[voice][start:end]

    def words(self) -> set[str]:
        """The bank's vocabulary."""
        return set(self.index)


@lru_cache(maxsize=1)
def load_bank() -> Bank:
    """The bank shipped with flexsim (read and decoded once per process)."""
    with np.load(BANK_PATH, allow_pickle=False) as data:
        words = [str(w) for w in data["words"]]
        return Bank(
            index={w: i for i, w in enumerate(words)},
            audio={v: mulaw_decode(data[f"{v}_audio"]) for v in BANK_VOICES},
            offsets={v: data[f"{v}_offsets"] for v in BANK_VOICES},
        )


@dataclass(frozen=True)
class Speaker:
    """A bank voice at a playback rate (1.0 as synthesised; 1.05 five per cent faster, higher)."""

    voice: str
    rate: float = 1.0

    def word(self, word: str) -> FloatArray:
        """The word's samples at 8 kHz as this speaker says it."""
        return _word_at_rate(self.voice, word, round(self.rate, 3))


@lru_cache(maxsize=4096)
def _word_at_rate(voice: str, word: str, rate: float) -> FloatArray:
    clip = load_bank().clip(voice, word)
    if rate == 1.0:
        return clip
    n = max(1, int(len(clip) / rate))
    positions = np.arange(n, dtype=np.float64) * rate
    out: FloatArray = np.interp(positions, np.arange(len(clip)), clip).astype(np.float32)
    return out


def speaker_for(key: int) -> Speaker:
    """A speaker chosen by a stable integer key (the voice and a rate in 0.92-1.08)."""
    voice = BANK_VOICES[key % len(BANK_VOICES)]
    rate = 0.92 + ((key >> 8) % 17) * 0.01
    return Speaker(voice, rate)
