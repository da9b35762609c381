"""Human-spoken digits in the simulator's calls: Allison Smith's recorded Asterisk prompts.

Every voice of flexsim's bank is synthesised (CMU Flite; espeak-ng with `--voices espeak`). The
one packaged set of human recordings of spoken numbers found in the package registries is
Debian's `asterisk-core-sounds-en-wav` (`apt-get install asterisk-core-sounds-en-wav`): a
professional IVR voice reading each number word once, 8 kHz 16-bit (CC-BY-SA-3.0; read from the
installed package, never copied into this repository). `with asterisk_digits():` speaks every
number word the scripts use (zero to nineteen, "oh", the tens, "hundred") with those
recordings, and the rest of each call with the shipped bank, so a card reading is said by a
human voice in each speaker's turn, at that speaker's pace. Scripts and word truth stay as
they are, so `bench/card_data.py --voices asterisk` scores it like any other set. "double" and
"triple" have no recording and stay synthesised. One voice, each word said one way: this is
recall on human digit sounds, not on many speakers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile

from flexsim.speech import render
from flexsim.speech.bank import BANK_VOICES, Bank, load_bank, mulaw_decode, mulaw_encode

PROMPTS = Path("/usr/share/asterisk/sounds/en_US_f_Allison/digits")
_NAMES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
# Word -> the prompt's file name.
RECORDED = {
    **{word: str(n) for n, word in enumerate(_NAMES)},
    **{
        word: str(10 * n)
        for n, word in enumerate(
            "twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2
        )
    },
    "oh": "oh",
    "hundred": "hundred",
}
TARGET_RMS = 0.1  # the shipped bank's active-speech level (-20 dBFS)


def recorded_word(word: str, folder: Path = PROMPTS) -> npt.NDArray[np.float32]:
    """One prompt at 8 kHz, trimmed to its sound (10 ms kept each side) and levelled."""
    x, rate = soundfile.read(folder / f"{RECORDED[word]}.wav", dtype="float32")
    if rate != 8000:
        raise SystemExit(f"{folder}: {rate} Hz prompts, expected 8000")
    level = np.abs(x)
    loud = np.nonzero(level > 0.03 * level.max())[0]
    clip = x[max(0, loud[0] - 80) : loud[-1] + 80]
    active = clip[np.abs(clip) > 0.02 * np.abs(clip).max()]
    gain = TARGET_RMS / float(np.sqrt(np.mean(active**2)))
    # Through G.711 mu-law, as every bank clip is.
    out: npt.NDArray[np.float32] = mulaw_decode(mulaw_encode(np.clip(clip * gain, -1, 1)))
    return out


def build_bank(folder: Path = PROMPTS) -> Bank:
    """The shipped bank with its number words replaced by the recordings, in every voice."""
    if not folder.is_dir():
        raise SystemExit(
            f"{folder} is missing: apt-get install asterisk-core-sounds-en-wav (Debian)"
        )
    shipped = load_bank()
    words = sorted(shipped.index, key=shipped.index.__getitem__)
    recorded = {w: recorded_word(w, folder) for w in words if w in RECORDED}
    audio: dict[str, npt.NDArray[np.float32]] = {}
    offsets: dict[str, npt.NDArray[np.int32]] = {}
    for voice in BANK_VOICES:
        clips = [recorded.get(w, shipped.clip(voice, w)) for w in words]
        audio[voice] = np.concatenate(clips).astype(np.float32)
        offsets[voice] = np.cumsum([0] + [len(c) for c in clips]).astype(np.int32)
    return Bank(index=shipped.index, audio=audio, offsets=offsets)


@contextmanager
def asterisk_digits() -> Iterator[None]:
    """Calls rendered inside the block say their number words with the human recordings."""
    with render.speaking_with(build_bank()):
        yield
