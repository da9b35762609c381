"""Each word ends where its speech ends: the rules read the speech's gaps, not an engine's.

Rules measure gaps between words: a digit run breaks at a 2.5 s gap, a question ends at a
0.7 s one, a turn starts where the other side speaks. An engine that decodes a whole channel at
once (Whisper) places words end to end: a word's end runs on through the silence after it to
the next word ("eight" said in 0.4 s and ending a second later), so there is no gap, a question
and the answer after it are one utterance, and an expiry joins the card number across the
agent's question between them. The voice activity detector's speech regions of the same
channel say where speech is: a word's end is cut to the end of the region it overlaps most (the
speech it was heard in), as pocketsphinx's words are, which it hears inside those regions only.
A word's start is kept: under line noise the detector finds a word's onset late (a soft "six"
found 0.4 s after it began), and the start is where a card's first digit is silenced from. A
word no region overlaps keeps its times: what an engine heard is never dropped, only placed.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from flexrec.transcription.base import Word
from flexrec.transcription.feed import Region


def fit_to_speech(words: Sequence[Word], regions: Sequence[Region]) -> list[Word]:
    """`words` (one channel), each ending no later than the speech region it overlaps most
    (`regions`: that channel's, sorted, not overlapping; see the module docstring)."""
    starts = [r.start_ms for r in regions]
    out: list[Word] = []
    for word in words:
        best: Region | None = None
        most = 0
        index = max(0, bisect.bisect_right(starts, word.start_ms) - 1)
        while index < len(regions) and regions[index].start_ms < word.end_ms:
            region = regions[index]
            overlap = min(word.end_ms, region.end_ms) - max(word.start_ms, region.start_ms)
            if overlap > most:
                best, most = region, overlap
            index += 1
        if best is None or word.end_ms <= best.end_ms:
            out.append(word)
        else:
            out.append(Word(word.text, word.start_ms, best.end_ms, word.confidence))
    return out
