"""Synthesise flexsim's word clip bank (src/flexsim/speech/bank.npz) with CMU Flite.

Run by hand when the vocabulary (flexsim.speech.phrases.vocabulary) changes:

    apt-get install flite && python flexsim/tools/build_speech_bank.py

Flite's voices are used because the default recogniser (pocketsphinx, also from CMU) hears
them well enough to test card detection on; espeak-ng's voices are kept for the recall bench
as voices the detector was never tuned on. Each clip is one word, trimmed, resampled to 8 kHz
and stored as 8-bit G.711 mu-law, the quality Twilio records; the bank stays a few MB.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from flexsim.speech.bank import BANK_PATH, BANK_VOICES, mulaw_encode  # noqa: E402
from flexsim.speech.phrases import vocabulary  # noqa: E402

TARGET_RMS = 0.1  # -20 dBFS active speech, the level flexsim's speech is rendered around


def _lowpass_decimate(x: np.ndarray, factor: int) -> np.ndarray:
    """Windowed-sinc low-pass at 0.45 of the new rate, then keep every `factor`-th sample."""
    taps = 127
    n = np.arange(taps) - taps // 2
    cutoff = 0.9 / (2 * factor)
    h = 2 * cutoff * np.sinc(2 * cutoff * n) * np.blackman(taps)
    return np.convolve(x, h / h.sum(), mode="same")[::factor]


def synthesise(voice: str, word: str, folder: Path) -> np.ndarray:
    """One word from Flite, as float samples at 8 kHz, trimmed to its sound."""
    path = folder / "w.wav"
    subprocess.run(["flite", "-voice", voice, "-t", word, "-o", str(path)], check=True)  # noqa: S603,S607
    x, rate = soundfile.read(path, dtype="float64")
    if rate % 8000:
        raise SystemExit(f"flite voice {voice} writes {rate} Hz; expected a multiple of 8000")
    if rate > 8000:
        x = _lowpass_decimate(x, rate // 8000)
    level = np.abs(x)
    loud = np.nonzero(level > 0.03 * level.max())[0]
    margin = 80  # 10 ms
    return x[max(0, loud[0] - margin) : loud[-1] + margin]


def main() -> None:
    """Build the bank and print its size."""
    words = sorted(vocabulary())
    arrays: dict[str, np.ndarray] = {"words": np.array(words)}
    with tempfile.TemporaryDirectory() as tmp:
        for voice in BANK_VOICES:
            clips = [synthesise(voice, word, Path(tmp)) for word in words]
            joined = np.concatenate(clips)
            active = joined[np.abs(joined) > 0.02 * np.abs(joined).max()]
            gain = TARGET_RMS / float(np.sqrt(np.mean(active**2)))
            arrays[f"{voice}_audio"] = mulaw_encode(np.clip(joined * gain, -1, 1))
            arrays[f"{voice}_offsets"] = np.cumsum([0] + [len(c) for c in clips]).astype(np.int32)
            print(f"{voice}: {len(joined) / 8000:.1f} s of speech")
    np.savez_compressed(BANK_PATH, **arrays)
    print(f"{BANK_PATH}: {BANK_PATH.stat().st_size / 1e6:.2f} MB, {len(words)} words")


if __name__ == "__main__":
    main()
