"""Words placed where their channel has speech: an engine's words that run on through silence
(Whisper's, end to end) leave the gaps the rules read."""

from __future__ import annotations

import io

import numpy as np
import soundfile

from flexrec.pci.detect import CARD_NUMBER, EXPIRY, Detection
from flexrec.pci.stage import CardDataStage, with_word_before
from flexrec.pci.word_times import fit_to_speech
from flexrec.transcription.base import Word
from flexrec.transcription.feed import Region

RATE = 8000


def test_a_word_ends_where_the_speech_it_overlaps_most_ends() -> None:
    regions = [Region(1000, 2000), Region(4000, 5000)]
    words = [
        Word("eight", 1600, 3900, 0.9),  # ran on through the silence after it
        Word("and", 3000, 4500),  # began where the word before ended: its start is kept
        Word("six", 900, 1400),  # the detector found its onset late: its start is kept
        Word("two", 4100, 4400),  # inside its speech: unchanged
        Word("yes", 6000, 6300),  # no speech found there: kept as heard
    ]
    assert fit_to_speech(words, regions) == [
        Word("eight", 1600, 2000, 0.9),
        Word("and", 3000, 4500),
        Word("six", 900, 1400),
        Word("two", 4100, 4400),
        Word("yes", 6000, 6300),
    ]
    assert fit_to_speech(words, []) == words


def _speech(spans_s: list[tuple[float, float]], seconds: float) -> np.ndarray:
    """Speech-like noise (4 Hz syllable envelope) over `spans_s`, line hiss elsewhere (no
    digital silence: that would read as a pause)."""
    rng = np.random.default_rng(7)
    out = rng.normal(0, 20, int(seconds * RATE)).astype(np.int16)
    for start, end in spans_s:
        n = int((end - start) * RATE)
        envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * np.arange(n) / RATE)
        out[int(start * RATE) : int(start * RATE) + n] = rng.normal(0, 3000, n) * envelope
    return out


class _EndToEnd:
    """Heard as Whisper hears a channel: every word ends where the next begins."""

    name = "end-to-end"

    def __init__(self, channels: dict[int, list[tuple[str, int]]]) -> None:
        self.channels = channels

    def transcribe(self, samples: np.ndarray, sample_rate_hz: int) -> list[Word]:
        said = self.channels[1 if samples[0] == 1 else 2]
        ends = [start for _, start in said[1:]] + [said[-1][1] + 400]
        return [Word(text, start, end) for (text, start), end in zip(said, ends, strict=True)]


def test_an_expiry_after_the_agents_question_is_not_one_run_with_the_card() -> None:
    # held-out seed 2010 with Whisper: the card's last digit ran on to "june thirty", so the
    # card, the agent's "and when does it expire" and the expiry were one run, one span
    card = "four five three nine five seven eight seven six three six two one four".split()
    reader = [(w, 1000 + i * 400) for i, w in enumerate(card)]
    reader += [("oh", 9800), ("one", 10100), ("thirty", 10400)]
    agent = [(w, 7200 + i * 400) for i, w in enumerate("and when does it expire".split())]
    samples = np.stack(
        [_speech([(1.0, 6.6), (9.8, 10.8)], 14.0), _speech([(7.2, 9.2)], 14.0)], axis=1
    )
    samples[0] = (1, 2)  # which channel the engine is given
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, RATE, format="WAV", subtype="PCM_16")
    result = CardDataStage(_EndToEnd({1: reader, 2: agent})).process(buffer.getvalue())
    assert [(d.kind, d.channel) for d in result.detections] == [(CARD_NUMBER, 1), (EXPIRY, 1)]
    # the agent's question between them is kept
    assert not any(start < 9000 and end > 7400 for start, end in result.spans_ms)


def test_a_detection_starts_at_the_word_that_runs_into_its_first_digit() -> None:
    # line noise, seed 1001 with Whisper: the agent's read-back "six five oh one ..." heard as
    # "this is five oh one ...", its "six" as "is", and the VAD found the onset late: the "six"
    # stayed audible in front of the silenced span
    words = [Word("this", 31_800, 32_300), Word("is", 32_300, 32_900), Word("five", 32_900, 33_300)]
    card = Detection(CARD_NUMBER, 2, 32_900, 41_300, "12_digits_in_10s", 13)
    assert with_word_before(card, words).start_ms == 32_300
    # a word that ended before the digits, with a gap, is speech of its own
    apart = [Word("is", 32_300, 32_700), Word("five", 32_900, 33_300)]
    assert with_word_before(card, apart) == card
