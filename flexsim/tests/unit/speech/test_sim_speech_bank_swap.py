"""`render.speaking_with` swaps the word bank for the block and gives the shipped one back."""

from __future__ import annotations

import numpy as np

from flexsim.speech import bank, render
from flexsim.words import Word

_WORDS = (Word("five", 0.1, 0.5, digits="5"),)


def _utterance() -> np.ndarray:
    return render.utterance_audio(7, "customer", 0.0, 1.0, _WORDS, 8000)


def test_calls_rendered_inside_the_block_use_the_given_bank_and_after_it_the_shipped_one() -> None:
    shipped = _utterance().copy()  # cached from the shipped bank before the swap
    assert np.abs(shipped).max() > 0
    real = bank.load_bank()
    quiet = bank.Bank(
        index=real.index,
        audio={voice: np.zeros_like(samples) for voice, samples in real.audio.items()},
        offsets=real.offsets,
    )
    with render.speaking_with(quiet):
        assert bank.load_bank() is quiet
        assert np.abs(_utterance()).max() == 0  # not the clip cached before the block
    assert bank.load_bank() is real
    np.testing.assert_array_equal(_utterance(), shipped)
