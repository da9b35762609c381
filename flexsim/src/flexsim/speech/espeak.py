"""Other voices for flexsim's speech: the word bank re-synthesised by espeak-ng, on demand.

The shipped bank holds CMU Flite voices. A recogniser or detector tested on them can be tuned to
them without knowing it; `with espeak_voices():` synthesises the same vocabulary with Debian's
espeak-ng (`apt-get install espeak-ng`) in four other voices, each with its own speed and pitch,
and speaks every call rendered inside the block with them. Scripts and word truth stay as they
are, so the same scoring applies. Each clip is trimmed, resampled to 8 kHz, levelled to the
bank's -20 dBFS and passed through G.711 mu-law, like the shipped bank.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile

from flexsim.speech import render
from flexsim.speech.bank import BANK_VOICES, Bank, mulaw_decode, mulaw_encode
from flexsim.speech.phrases import vocabulary

# (espeak-ng voice, words per minute, pitch 0-99): one per shipped bank voice it replaces.
ESPEAK_VOICES = (
    ("en-us+f3", 165, 62),
    ("en-gb-scotland", 185, 38),
    ("en-029", 150, 50),
    ("en-gb-x-rp+m3", 200, 45),
)
TARGET_RMS = 0.1


FloatArray = npt.NDArray[np.float64]


def _to_8k(x: FloatArray, rate: int) -> FloatArray:
    """Low-pass below 3.6 kHz (windowed sinc), then linear interpolation onto the 8 kHz grid."""
    taps = 127
    n = np.arange(taps) - taps // 2
    cutoff = 3600 / rate
    h = 2 * cutoff * np.sinc(2 * cutoff * n) * np.blackman(taps)
    smooth = np.convolve(x, h / h.sum(), mode="same")
    grid = np.arange(0, len(x) * 8000 // rate) * rate / 8000
    out: FloatArray = np.interp(grid, np.arange(len(x)), smooth)
    return out


def synthesise(voice: str, speed: int, pitch: int, word: str, folder: Path) -> FloatArray:
    """One word from espeak-ng as float samples at 8 kHz, trimmed to its sound."""
    path = folder / "w.wav"
    program = shutil.which("espeak-ng") or "espeak-ng"
    subprocess.run(  # noqa: S603 - the installed espeak-ng, arguments from this module
        [program, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(path), word],
        check=True,
    )
    raw, rate = soundfile.read(path, dtype="float64")
    x = _to_8k(raw, int(rate))
    level = np.abs(x)
    loud = np.nonzero(level > 0.03 * level.max())[0]
    margin = 80  # 10 ms
    clip: FloatArray = x[max(0, loud[0] - margin) : loud[-1] + margin]
    return clip


def build_bank() -> Bank:
    """The vocabulary in the four espeak-ng voices, under the shipped voices' names."""
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is not installed: apt-get install espeak-ng")
    words = sorted(vocabulary())
    audio: dict[str, npt.NDArray[np.float32]] = {}
    offsets: dict[str, npt.NDArray[np.int32]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (voice, speed, pitch) in zip(BANK_VOICES, ESPEAK_VOICES, strict=True):
            clips = [synthesise(voice, speed, pitch, word, Path(tmp)) for word in words]
            joined = np.concatenate(clips)
            active = joined[np.abs(joined) > 0.02 * np.abs(joined).max()]
            gain = TARGET_RMS / float(np.sqrt(np.mean(active**2)))
            codes = mulaw_encode(np.clip(joined * gain, -1, 1))
            audio[name] = mulaw_decode(codes)
            offsets[name] = np.cumsum([0] + [len(c) for c in clips]).astype(np.int32)
    return Bank(index={w: i for i, w in enumerate(words)}, audio=audio, offsets=offsets)


@contextmanager
def espeak_voices() -> Iterator[None]:
    """Calls rendered inside the block speak with the espeak-ng voices (not thread-safe)."""
    with render.speaking_with(build_bank()):
        yield
