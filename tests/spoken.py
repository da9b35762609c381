"""Transcript words and speech regions built by hand, for the card-data detector's tests."""

from __future__ import annotations

from typing import Any

from flexrec.transcription.base import Word
from flexrec.transcription.feed import Region


def said(text: str, start_ms: int, word_ms: int = 350, gap_ms: int = 80) -> list[Word]:
    """Words one after another from `start_ms`."""
    out: list[Word] = []
    t = start_ms
    for token in text.split():
        out.append(Word(token, t, t + word_ms))
        t += word_ms + gap_ms
    return out


def region(words: list[Word]) -> Region:
    """The speech region a VAD would give for `words` (padded 150 ms)."""
    return Region(words[0].start_ms - 150, words[-1].end_ms + 150)


def heard_all(truth: dict[str, Any]) -> dict[int, list[Word]]:
    """A recogniser that hears every word the simulator's truth says was said while recording."""
    return {
        index + 1: [
            Word(w["word"], w["start_ms"], w["end_ms"])
            for w in truth["channels"][name]
            if w["audible"]
        ]
        for index, name in enumerate(("channel1", "channel2"))
    }
